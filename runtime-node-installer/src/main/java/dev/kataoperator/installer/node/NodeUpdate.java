package dev.kataoperator.installer.node;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kataoperator.contract.InstallerContract;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * One change to the installer's Node: labels and annotations set or removed, all of them contract
 * keys ({@link InstallerContract#PREFIX}), sent as one JSON merge patch so the API server applies
 * them together: a reader never sees a state label without the annotations that explain it.
 */
public record NodeUpdate(
    Map<String, String> setLabels,
    Set<String> removeLabels,
    Map<String, String> setAnnotations,
    Set<String> removeAnnotations) {

  private static final ObjectMapper JSON = new ObjectMapper();

  public NodeUpdate {
    setLabels = Collections.unmodifiableMap(new TreeMap<>(setLabels));
    removeLabels = Collections.unmodifiableSet(new TreeSet<>(removeLabels));
    setAnnotations = Collections.unmodifiableMap(new TreeMap<>(setAnnotations));
    removeAnnotations = Collections.unmodifiableSet(new TreeSet<>(removeAnnotations));
    for (String k : keys(setLabels, removeLabels, setAnnotations, removeAnnotations)) {
      if (!InstallerContract.isContractKey(k)) {
        throw new IllegalArgumentException("not a contract key: " + k);
      }
    }
  }

  private static Set<String> keys(
      Map<String, String> a, Set<String> b, Map<String, String> c, Set<String> d) {
    Set<String> all = new TreeSet<>(a.keySet());
    all.addAll(b);
    all.addAll(c.keySet());
    all.addAll(d);
    return all;
  }

  /** The JSON merge patch: set keys with their value, removed keys as null. */
  public String toMergePatch() {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode meta = root.putObject("metadata");
    if (!setLabels.isEmpty() || !removeLabels.isEmpty()) {
      ObjectNode l = meta.putObject("labels");
      removeLabels.forEach(l::putNull);
      setLabels.forEach(l::put);
    }
    if (!setAnnotations.isEmpty() || !removeAnnotations.isEmpty()) {
      ObjectNode a = meta.putObject("annotations");
      removeAnnotations.forEach(a::putNull);
      setAnnotations.forEach(a::put);
    }
    return root.toString();
  }

  /** {@code labels} after this update (what the API server computes). */
  public Map<String, String> applyToLabels(Map<String, String> labels) {
    return apply(labels, setLabels, removeLabels);
  }

  /** {@code annotations} after this update. */
  public Map<String, String> applyToAnnotations(Map<String, String> annotations) {
    return apply(annotations, setAnnotations, removeAnnotations);
  }

  private static Map<String, String> apply(
      Map<String, String> before, Map<String, String> set, Set<String> remove) {
    Map<String, String> m = new LinkedHashMap<>(before == null ? Map.of() : before);
    remove.forEach(m::remove);
    m.putAll(set);
    return m;
  }

  /** The state label's value this update sets, if it sets one. */
  public String state() {
    return setLabels.get(InstallerContract.LABEL_STATE);
  }
}
