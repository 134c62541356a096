package dev.kataoperator.installer.cri;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kataoperator.installer.cri.v1.RuntimeCondition;
import dev.kataoperator.installer.cri.v1.StatusResponse;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * What containerd's CRI plugin serves, from a verbose {@code Status}: whether the runtime is ready,
 * and the runtime handlers of the config it loaded. containerd 1.6 and 2.2 both put that config as
 * JSON under {@code info["config"]}, with the handlers at {@code containerd.runtimes.<name>}
 * ({@code runtimeType}, {@code runtimePath}, {@code options}).
 *
 * @param runtimeReady the RuntimeReady condition
 * @param notReadyReason its reason and message when it is false
 */
public record CriView(boolean runtimeReady, String notReadyReason, Map<String, Handler> handlers) {

  private static final ObjectMapper JSON = new ObjectMapper();

  /** One runtime handler as containerd loaded it. */
  public record Handler(
      String name, String runtimeType, String runtimePath, Optional<String> configPath) {}

  public static CriView of(StatusResponse status) throws CriException {
    boolean ready = false;
    String reason = "containerd reports no RuntimeReady condition";
    for (RuntimeCondition c : status.getStatus().getConditionsList()) {
      if (c.getType().equals("RuntimeReady")) {
        ready = c.getStatus();
        reason = ready ? "" : (c.getReason() + " " + c.getMessage()).strip();
      }
    }
    String config = status.getInfoMap().get("config");
    if (config == null) {
      throw new CriException("containerd's CRI status has no info[\"config\"]");
    }
    JsonNode runtimes;
    try {
      runtimes = JSON.readTree(config).path("containerd").path("runtimes");
    } catch (Exception e) {
      throw new CriException("containerd's CRI config is not JSON: " + e.getMessage());
    }
    Map<String, Handler> handlers = new LinkedHashMap<>();
    runtimes
        .properties()
        .forEach(
            e -> {
              JsonNode h = e.getValue();
              JsonNode cp = h.path("options").path("ConfigPath");
              handlers.put(
                  e.getKey(),
                  new Handler(
                      e.getKey(),
                      h.path("runtimeType").asText(""),
                      h.path("runtimePath").asText(""),
                      cp.isTextual() ? Optional.of(cp.asText()) : Optional.empty()));
            });
    return new CriView(ready, reason, Map.copyOf(handlers));
  }
}
