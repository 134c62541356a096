package dev.kataoperator.operator.status;

import dev.kataoperator.operator.api.v1alpha1.KataConfig;
import dev.kataoperator.operator.config.OperatorConfig;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.MicroTime;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import jakarta.enterprise.context.ApplicationScoped;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import org.jboss.logging.Logger;

/** Emits core/v1 Events about a KataConfig, so `kubectl describe kataconfig` shows them. */
@ApplicationScoped
public class KataEvents {
  private static final Logger LOG = Logger.getLogger(KataEvents.class);
  static final String COMPONENT = "kata-operator";

  private final KubernetesClient client;
  private final OperatorConfig config;
  private final String instance =
      Optional.ofNullable(System.getenv("HOSTNAME")).orElse("kata-operator");

  public KataEvents(KubernetesClient client, OperatorConfig config) {
    this.client = client;
    this.config = config;
  }

  public void emit(KataConfig kc, List<Transitions.Event> events) {
    for (Transitions.Event e : events) {
      emit(kc, e);
    }
  }

  public void emit(KataConfig kc, Transitions.Event e) {
    Instant now = Instant.now();
    String ts = now.truncatedTo(ChronoUnit.SECONDS).toString();
    var event =
        new EventBuilder()
            .withNewMetadata()
            .withNamespace(config.eventNamespace())
            .withName(
                kc.getMetadata().getName()
                    + "."
                    + Long.toHexString(now.toEpochMilli())
                    + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000)))
            .endMetadata()
            .withNewInvolvedObject()
            .withApiVersion(kc.getApiVersion())
            .withKind(kc.getKind())
            .withName(kc.getMetadata().getName())
            .withUid(kc.getMetadata().getUid())
            .withResourceVersion(kc.getMetadata().getResourceVersion())
            .endInvolvedObject()
            .withType(e.warning() ? "Warning" : "Normal")
            .withReason(e.reason())
            .withMessage(e.message())
            .withFirstTimestamp(ts)
            .withLastTimestamp(ts)
            .withEventTime(new MicroTime(now.truncatedTo(ChronoUnit.MICROS).toString()))
            .withCount(1)
            .withNewSource()
            .withComponent(COMPONENT)
            .endSource()
            .withReportingComponent(COMPONENT)
            .withReportingInstance(instance)
            .withAction(e.reason())
            .build();
    try {
      client.v1().events().inNamespace(config.eventNamespace()).resource(event).create();
      LOG.infof(
          "event %s %s on KataConfig %s: %s",
          event.getType(), e.reason(), kc.getMetadata().getName(), e.message());
    } catch (KubernetesClientException ex) {
      // An Event is a courtesy: never fail a reconciliation for one.
      LOG.warnf("could not record event %s: %s", e.reason(), ex.getMessage());
    }
  }
}
