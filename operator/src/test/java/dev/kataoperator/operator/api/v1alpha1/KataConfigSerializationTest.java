package dev.kataoperator.operator.api.v1alpha1;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class KataConfigSerializationTest {

  @Test
  void maxUnavailableRoundTripsAsIntOrPercentage() {
    KataConfig kc = new KataConfig();
    kc.getMetadata().setName("x");
    kc.setSpec(new KataConfigSpec());
    kc.getSpec().rollout.maxUnavailable = new IntOrString(2);
    String json = Serialization.asJson(kc);
    KataConfig back = Serialization.unmarshal(json, KataConfig.class);
    assertEquals(2, back.getSpec().rollout.maxUnavailable.getIntVal(), json);

    kc.getSpec().rollout.maxUnavailable = new IntOrString("50%");
    back = Serialization.unmarshal(Serialization.asJson(kc), KataConfig.class);
    assertEquals("50%", back.getSpec().rollout.maxUnavailable.getStrVal());
  }

  @Test
  void aFreshInstanceCarriesNoSpecOrStatus() {
    // java-operator-sdk server-side-applies `new KataConfig()` + name + finalizer: any spec or
    // status in it would be written over the user's.
    KataConfig kc = new KataConfig();
    kc.getMetadata().setName("x");
    String json = Serialization.asJson(kc);
    assertFalse(json.contains("spec"), json);
    assertFalse(json.contains("status"), json);
  }
}
