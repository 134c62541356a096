package dev.kataoperator.operator.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Health and Prometheus endpoints of the running operator. */
@Tag("apiserver")
@QuarkusTest
@WithTestResource(KubeApiServerResource.class)
class OperationsTest {
  @TestHTTPResource("/q/health/ready")
  URI ready;

  @TestHTTPResource("/q/health/live")
  URI live;

  @TestHTTPResource("/q/metrics")
  URI metrics;

  static HttpResponse<String> get(URI uri) throws Exception {
    try (HttpClient http = HttpClient.newHttpClient()) {
      return http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString());
    }
  }

  @Test
  void healthIsUpOnceTheInformersAre() throws Exception {
    HttpResponse<String> r = get(ready);
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(r.body().contains("\"status\": \"UP\""), r.body());
    assertEquals(200, get(live).statusCode());
  }

  @Test
  void metricsExposeNodePhasesAndReconciliations() throws Exception {
    HttpResponse<String> r = get(metrics);
    assertEquals(200, r.statusCode());
    String body = r.body();
    for (String phase : new String[] {"Pending", "Installing", "Installed", "Failed"}) {
      assertTrue(body.contains("kataoperator_nodes{phase=\"" + phase + "\"}"), body);
    }
    assertTrue(body.contains("kataoperator_runtimeclasses"), body);
  }
}
