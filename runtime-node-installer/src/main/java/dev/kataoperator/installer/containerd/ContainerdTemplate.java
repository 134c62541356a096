package dev.kataoperator.installer.containerd;

import dev.kataoperator.installer.containerd.ContainerdConfig.Action;
import dev.kataoperator.installer.containerd.ContainerdConfig.Change;
import dev.kataoperator.installer.containerd.ContainerdConfig.Outcome;
import dev.kataoperator.installer.containerd.ContainerdConfig.Strategy;
import dev.kataoperator.installer.containerd.ContainerdConfigException.Kind;
import dev.kataoperator.installer.fs.AtomicFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.tomlj.Toml;
import org.tomlj.TomlParseResult;

/**
 * Kata's runtime handlers for k3s and rke2. Both write containerd's config.toml anew at every
 * start, from {@code config.toml.tmpl} when that exists (a Go template). The installer's template
 * is {@code {{ template "base" . }}} (the distribution's own config, whatever its version renders)
 * followed by the handlers in a marked block; a template the user already has gets the block
 * appended instead, and keeps every other byte. The tables use the schema of the config the
 * distribution renders now (its {@code version}), else that of the containerd release.
 *
 * <p>Uninstall removes the block, and the file when the installer created it: the distribution then
 * renders its plain config again.
 */
public final class ContainerdTemplate implements HandlerConfig {
  /** The distribution's whole generated config, as k3s and rke2 define it for templates. */
  public static final String BASE = "{{ template \"base\" . }}";

  private static final Pattern VERSION = Pattern.compile("(?m)^version\\s*=\\s*(\\d+)");

  private final Path hostRoot;
  private final Path template;
  private final Path rendered;

  /**
   * @param template the template's host path (config.toml.tmpl)
   * @param rendered the config the distribution renders from it (config.toml, a host path)
   */
  public ContainerdTemplate(Path hostRoot, Path template, Path rendered) {
    if (!template.isAbsolute() || !rendered.isAbsolute()) {
      throw new IllegalArgumentException(
          "host paths must be absolute: " + template + ", " + rendered);
    }
    this.hostRoot = hostRoot;
    this.template = template.normalize();
    this.rendered = rendered.normalize();
  }

  @Override
  public Path mainConfig() {
    return template;
  }

  public Path backup() {
    return template.resolveSibling(template.getFileName() + ContainerdConfig.BACKUP_SUFFIX);
  }

  @Override
  public Outcome install(ContainerdVersion containerd, List<RuntimeHandler> handlers)
      throws ContainerdConfigException {
    if (handlers.isEmpty()) {
      throw new IllegalArgumentException("no runtime handlers to install");
    }
    if (!containerd.isSupported()) {
      throw new ContainerdConfigException(
          Kind.UNSUPPORTED_VERSION,
          "containerd " + containerd + " is older than " + ContainerdVersion.OLDEST_SUPPORTED);
    }
    String src = template.toString();
    refuseSymlink();
    Optional<String> original = read(template);
    ConfigSchema schema = schema(containerd);
    String base = original.orElse(BASE + "\n");
    Optional<ManagedBlock.Found> block =
        original.isPresent() ? ManagedBlock.find(base, src) : Optional.empty();
    InstallRecord record =
        block
            .map(ManagedBlock.Found::record)
            .orElse(new InstallRecord(original.isEmpty(), false, false, false));
    if (block.isPresent()) {
      base = ManagedBlock.remove(base, block.get());
    }
    for (RuntimeHandler h : handlers) {
      // The template is not TOML until rendered: look for the table header as text.
      if (Pattern.compile("runtimes\\.[\"']?" + Pattern.quote(h.name()) + "[\"']?\\s*[.\\]]")
          .matcher(base)
          .find()) {
        throw new ContainerdConfigException(
            Kind.CONFLICT,
            src + " already defines runtime handler '" + h.name() + "'; remove it there");
      }
    }
    String body = handlers.stream().map(h -> h.toToml(schema)).collect(Collectors.joining());
    TomlParseResult own = Toml.parse("version = " + schema.version() + "\n" + body);
    if (own.hasErrors()) {
      throw new IllegalStateException("runtime handler tables do not parse: " + own.errors());
    }
    var r =
        new InstallRecord(
            record.createdFile(), false, false, !base.endsWith("\n") && !base.isEmpty());
    String text = ManagedBlock.append(base, body, r);
    List<Change> changes = new ArrayList<>();
    if (!original.map(text::equals).orElse(false)) {
      try {
        if (original.isPresent() && !record.createdFile()) {
          if (backupOnce(base)) {
            changes.add(new Change(backup(), Action.BACKED_UP));
          }
        }
        AtomicFiles.write(host(template), text);
        changes.add(new Change(template, original.isPresent() ? Action.UPDATED : Action.CREATED));
      } catch (IOException e) {
        throw io(e);
      }
    }
    return new Outcome(Optional.of(Strategy.MAIN_FILE_BLOCK), Optional.of(schema), changes);
  }

  @Override
  public Outcome uninstall() throws ContainerdConfigException {
    refuseSymlink();
    Optional<String> original = read(template);
    List<Change> changes = new ArrayList<>();
    try {
      if (original.isPresent()) {
        Optional<ManagedBlock.Found> block = ManagedBlock.find(original.get(), template.toString());
        if (block.isPresent()) {
          String text = ManagedBlock.remove(original.get(), block.get());
          if (block.get().record().createdFile() && text.strip().equals(BASE)) {
            AtomicFiles.delete(host(template));
            changes.add(new Change(template, Action.DELETED));
          } else {
            AtomicFiles.write(host(template), text);
            changes.add(new Change(template, Action.UPDATED));
          }
        }
      }
      if (AtomicFiles.delete(host(backup()))) {
        changes.add(new Change(backup(), Action.DELETED));
      }
    } catch (IOException e) {
      throw io(e);
    }
    return new Outcome(Optional.empty(), Optional.empty(), changes);
  }

  @Override
  public Set<String> installedHandlers() throws ContainerdConfigException {
    Optional<String> text = read(template);
    if (text.isEmpty()) {
      return Set.of();
    }
    Optional<ManagedBlock.Found> block = ManagedBlock.find(text.get(), template.toString());
    if (block.isEmpty()) {
      return Set.of();
    }
    String body = text.get().substring(block.get().start(), block.get().end());
    Set<String> names = new java.util.TreeSet<>();
    for (ConfigSchema s : ConfigSchema.values()) {
      names.addAll(ContainerdConfig.handlerNames(body, s));
    }
    return names;
  }

  @Override
  public ConfigSnapshot snapshot() throws ContainerdConfigException {
    try {
      return ConfigSnapshot.of(hostRoot, List.of(template, backup()));
    } catch (IOException e) {
      throw io(e);
    }
  }

  @Override
  public void restore(ConfigSnapshot snapshot) throws ContainerdConfigException {
    try {
      snapshot.restore(hostRoot, List.of(backup(), template));
    } catch (IOException e) {
      throw io(e);
    }
  }

  /**
   * The schema of the config the distribution renders now (its {@code version} line), else the
   * containerd release's own: 2.x reads version 3 natively, 1.x version 2.
   */
  ConfigSchema schema(ContainerdVersion containerd) throws ContainerdConfigException {
    Optional<String> now = read(rendered);
    if (now.isPresent()) {
      var m = VERSION.matcher(now.get());
      if (m.find()) {
        return switch (m.group(1)) {
          case "2" -> ConfigSchema.V2;
          case "3" -> ConfigSchema.V3;
          default ->
              throw new ContainerdConfigException(
                  Kind.UNSUPPORTED_VERSION,
                  rendered + " says version = " + m.group(1) + "; the installer writes 2 and 3");
        };
      }
    }
    return containerd.major() >= 2 ? ConfigSchema.V3 : ConfigSchema.V2;
  }

  /** The user's template without our block, once; never overwritten. */
  private boolean backupOnce(String clean) throws IOException {
    Path b = host(backup());
    if (Files.exists(b, LinkOption.NOFOLLOW_LINKS)) {
      return false;
    }
    AtomicFiles.writeLike(b, clean, host(template));
    return true;
  }

  private void refuseSymlink() throws ContainerdConfigException {
    if (Files.isSymbolicLink(host(template))) {
      throw new ContainerdConfigException(
          Kind.CONFLICT, template + " is a symbolic link; point the installer at its target");
    }
  }

  private Optional<String> read(Path hostPath) throws ContainerdConfigException {
    try {
      return AtomicFiles.read(host(hostPath));
    } catch (IOException e) {
      throw io(e);
    }
  }

  private Path host(Path p) {
    return ContainerdInstallation.onHost(hostRoot, p);
  }

  private static ContainerdConfigException io(IOException e) {
    return new ContainerdConfigException(Kind.IO, "containerd template: " + e, e);
  }
}
