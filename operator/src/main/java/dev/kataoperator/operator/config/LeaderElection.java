package dev.kataoperator.operator.config;

import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Singleton;

/**
 * Leader election on a Lease in the operator's namespace (the client's current namespace), so that
 * two replicas (or an old and a new one during an upgrade) never reconcile at once. The Quarkus
 * extension uses it in the profiles listed in {@code
 * quarkus.operator-sdk.activate-leader-election-for-profiles}.
 */
@ApplicationScoped
public class LeaderElection {
  public static final String LEASE = "kata-operator-leader";

  @Produces
  @Singleton
  LeaderElectionConfiguration leaderElection() {
    return LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration(LEASE).build();
  }
}
