package dev.kataoperator.installer.containerd;

import dev.kataoperator.installer.containerd.ContainerdConfigException.Kind;
import dev.kataoperator.installer.fs.AtomicFiles;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.tomlj.TomlArray;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlTable;

/**
 * Registers Kata's CRI runtime handlers with containerd, and takes them away again.
 *
 * <p>containerd 2.x: the handlers go into a drop-in file next to the main config, in the schema of
 * the main config's {@code version} (3, or 2 which containerd migrates as a whole), and the drop-in
 * is added to the main config's top-level {@code imports}. containerd 1.x: an imported file
 * replaces a plugin's whole section there, so a drop-in would wipe the main config's CRI settings;
 * the handlers are appended to the main config between marker comments instead ({@link
 * ManagedBlock}), with containerd's default {@code runc} handler when the config names none (1.x
 * drops its built-in one as soon as any handler is configured).
 *
 * <p>Every edit keeps all other bytes of the main config, is checked by parsing the result before
 * anything is written, and is written atomically (temp file, fsync, rename) after a one-time backup
 * ({@code <main>.kata-operator.bak}). Install is idempotent; uninstall removes exactly what install
 * added. Paths are as containerd sees them on the host; {@code hostRoot} is where the host's file
 * system is mounted here ({@code /} on the node itself, {@code /host} in the installer pod).
 */
public final class ContainerdConfig implements HandlerConfig {

  public static final String DROP_IN_NAME = "kata-operator.toml";
  public static final String BACKUP_SUFFIX = ".kata-operator.bak";

  static final String DROP_IN_HEADER =
      "# Kata runtime handlers, written by kata-operator's runtime-node-installer.";

  /** The default handler containerd 1.x would otherwise lose. */
  static final String RUNC_V2 =
      """
      # containerd 1.x drops its built-in runc handler once any handler is configured: keep it.
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      """;

  /** Where the handlers go. */
  public enum Strategy {
    /** containerd 2.x: a drop-in plus an {@code imports} entry. */
    DROP_IN,
    /** containerd 1.x: a marked block at the end of the main config. */
    MAIN_FILE_BLOCK;

    public static Strategy of(ContainerdVersion containerd) {
      return containerd.major() >= 2 ? DROP_IN : MAIN_FILE_BLOCK;
    }
  }

  /** What happened to one file. */
  public enum Action {
    CREATED,
    UPDATED,
    DELETED,
    BACKED_UP
  }

  public record Change(Path path, Action action) {
    @Override
    public String toString() {
      return action.name().toLowerCase(java.util.Locale.ROOT) + " " + path;
    }
  }

  /** The changes made, in order; empty when the files were already as wanted. */
  public record Outcome(
      Optional<Strategy> strategy, Optional<ConfigSchema> schema, List<Change> changes) {
    public boolean changed() {
      return !changes.isEmpty();
    }
  }

  private final Path hostRoot;
  private final Path mainConfig;
  private final Path dropIn;

  /**
   * @param hostRoot where the host's root is mounted ({@code /} when running on the host)
   * @param mainConfig the main config's absolute path on the host
   * @param dropIn the drop-in's absolute path on the host
   */
  public ContainerdConfig(Path hostRoot, Path mainConfig, Path dropIn) {
    if (!mainConfig.isAbsolute() || !dropIn.isAbsolute()) {
      throw new IllegalArgumentException(
          "host paths must be absolute: " + mainConfig + ", " + dropIn);
    }
    this.hostRoot = hostRoot;
    this.mainConfig = mainConfig.normalize();
    this.dropIn = dropIn.normalize();
  }

  /** The drop-in next to the main config: {@code <dir>/kata-operator.toml}. */
  public ContainerdConfig(Path hostRoot, Path mainConfig) {
    this(hostRoot, mainConfig, mainConfig.resolveSibling(DROP_IN_NAME));
  }

  @Override
  public Path mainConfig() {
    return mainConfig;
  }

  public Path dropIn() {
    return dropIn;
  }

  public Path backup() {
    return mainConfig.resolveSibling(mainConfig.getFileName() + BACKUP_SUFFIX);
  }

  // --- install -------------------------------------------------------------------------------

  /** Makes containerd's config register exactly {@code handlers} (the next start picks them up). */
  @Override
  public Outcome install(ContainerdVersion containerd, List<RuntimeHandler> handlers)
      throws ContainerdConfigException {
    if (handlers.isEmpty()) {
      throw new IllegalArgumentException("no runtime handlers to install");
    }
    if (handlers.stream().map(RuntimeHandler::name).distinct().count() != handlers.size()) {
      throw new IllegalArgumentException("runtime handler names repeat: " + handlers);
    }
    if (!containerd.isSupported()) {
      throw new ContainerdConfigException(
          Kind.UNSUPPORTED_VERSION,
          "containerd "
              + containerd
              + " is older than "
              + ContainerdVersion.OLDEST_SUPPORTED
              + ", the oldest this installer configures; upgrade containerd");
    }
    String src = mainConfig.toString();
    refuseSymlinks();
    Optional<String> original = read(mainConfig);
    Optional<String> existingDropIn = readOwnDropIn();
    String base = original.orElse("");
    Optional<ManagedBlock.Found> block = Optional.empty();
    if (original.isPresent()) {
      ImportsEditor.imports(ImportsEditor.parse(base, src), src);
      block = ManagedBlock.find(base, src);
    }
    Optional<InstallRecord> prior =
        block.map(ManagedBlock.Found::record).or(() -> existingDropIn.flatMap(InstallRecord::find));
    if (block.isPresent()) {
      base = ManagedBlock.remove(base, block.get());
    }
    boolean createdFile = prior.map(InstallRecord::createdFile).orElse(original.isEmpty());
    boolean addedVersion = prior.map(InstallRecord::addedVersion).orElse(false);
    TomlParseResult parsedBase = ImportsEditor.parse(base, src);
    ConfigSchema schema = schemaFor(containerd, original.isPresent() ? parsedBase : null, src);
    Strategy strategy = Strategy.of(containerd);
    String nl = ImportsEditor.newline(base);
    String text = original.isEmpty() ? "version = " + schema.version() + nl : base;

    String newMain;
    Optional<String> newDropIn;
    if (strategy == Strategy.MAIN_FILE_BLOCK) {
      if (!parsedBase.keySet().contains("version") && original.isPresent()) {
        if (!parsedBase.keySet().isEmpty()) {
          throw new ContainerdConfigException(
              Kind.UNSUPPORTED_VERSION,
              src
                  + " has no 'version', so containerd "
                  + containerd
                  + " reads it as a deprecated version 1 config; convert it to version 2 first");
        }
        text = "version = 2" + nl + text;
        addedVersion = true;
      }
      // An imports entry of ours from a drop-in install (containerd was 2.x then) goes away.
      text =
          ImportsEditor.remove(
              text,
              dropIn.toString(),
              prior.map(InstallRecord::createdImportsKey).orElse(false),
              src);
      TomlParseResult parsed = ImportsEditor.parse(text, src);
      for (RuntimeHandler h : handlers) {
        if (runtimes(parsed, schema).map(t -> t.keySet().contains(h.name())).orElse(false)) {
          throw new ContainerdConfigException(
              Kind.CONFLICT,
              src
                  + " already defines runtime handler '"
                  + h.name()
                  + "'; remove it there, the installer manages it");
        }
      }
      checkNoImportReplacesCri(parsed, src);
      String body =
          (needsRunc(parsed) ? RUNC_V2 : "")
              + handlers.stream().map(h -> h.toToml(schema)).collect(Collectors.joining());
      var record =
          new InstallRecord(
              createdFile, false, addedVersion, !text.endsWith("\n") && !text.isEmpty());
      newMain = ManagedBlock.append(text, body, record);
      verifyHandlers(newMain, schema, handlers, src);
      newDropIn = Optional.empty();
    } else {
      TomlParseResult parsed = ImportsEditor.parse(text, src);
      Optional<List<String>> imports = ImportsEditor.imports(parsed, src);
      boolean hadEntry = imports.map(l -> l.contains(dropIn.toString())).orElse(false);
      boolean createdKey =
          hadEntry ? prior.map(InstallRecord::createdImportsKey).orElse(false) : imports.isEmpty();
      newMain = ImportsEditor.add(text, dropIn.toString(), src);
      verifyOnlyImportsChanged(parsed, newMain, src);
      var record = new InstallRecord(createdFile, createdKey, addedVersion, false);
      newDropIn = Optional.of(renderDropIn(schema, handlers, record));
      verifyHandlers(newDropIn.get(), schema, handlers, dropIn.toString());
    }
    List<Change> changes = apply(original, newMain, existingDropIn, newDropIn);
    return new Outcome(Optional.of(strategy), Optional.of(schema), changes);
  }

  // --- uninstall -----------------------------------------------------------------------------

  /** Removes what {@link #install} added: handlers, imports entry, drop-in, backup. */
  @Override
  public Outcome uninstall() throws ContainerdConfigException {
    refuseSymlinks();
    Optional<String> original = read(mainConfig);
    Optional<String> existingDropIn = readOwnDropIn();
    Optional<String> newMain = Optional.empty();
    if (original.isPresent()) {
      newMain = withoutOurs(original.get(), existingDropIn);
    }
    List<Change> changes = new ArrayList<>();
    try {
      if (original.isPresent() && !newMain.equals(original)) {
        if (newMain.isEmpty()) {
          AtomicFiles.delete(host(mainConfig));
          changes.add(new Change(mainConfig, Action.DELETED));
        } else {
          AtomicFiles.write(host(mainConfig), newMain.get());
          changes.add(new Change(mainConfig, Action.UPDATED));
        }
      }
      if (existingDropIn.isPresent() && AtomicFiles.delete(host(dropIn))) {
        changes.add(new Change(dropIn, Action.DELETED));
      }
      if (AtomicFiles.delete(host(backup()))) {
        changes.add(new Change(backup(), Action.DELETED));
      }
    } catch (IOException e) {
      throw io(e);
    }
    return new Outcome(Optional.empty(), Optional.empty(), changes);
  }

  /**
   * The main config's text without anything install added (block, imports entry, the version line
   * and imports key we created); empty when we created the file and nothing else is in it.
   */
  private Optional<String> withoutOurs(String text, Optional<String> existingDropIn)
      throws ContainerdConfigException {
    String src = mainConfig.toString();
    Optional<List<String>> imports = ImportsEditor.imports(ImportsEditor.parse(text, src), src);
    Optional<ManagedBlock.Found> block = ManagedBlock.find(text, src);
    if (block.isEmpty() && !imports.map(l -> l.contains(dropIn.toString())).orElse(false)) {
      // Nothing of ours in it: the record (of a drop-in left by a killed run) says nothing here.
      return Optional.of(text);
    }
    InstallRecord record =
        block
            .map(ManagedBlock.Found::record)
            .or(() -> existingDropIn.flatMap(InstallRecord::find))
            .orElse(InstallRecord.NONE);
    if (block.isPresent()) {
      text = ManagedBlock.remove(text, block.get());
    }
    text = ImportsEditor.remove(text, dropIn.toString(), record.createdImportsKey(), src);
    String nl = ImportsEditor.newline(text);
    if (record.addedVersion() && text.startsWith("version = 2" + nl)) {
      text = text.substring(("version = 2" + nl).length());
    }
    ImportsEditor.parse(text, src);
    boolean onlyOurs = text.matches("version = [23]\r?\n") || text.isEmpty();
    return record.createdFile() && onlyOurs ? Optional.empty() : Optional.of(text);
  }

  // --- what is there now ----------------------------------------------------------------------

  /** The handler names our block or drop-in registers now (runc, which we may add, excluded). */
  @Override
  public Set<String> installedHandlers() throws ContainerdConfigException {
    String src = mainConfig.toString();
    Set<String> names = new TreeSet<>();
    Optional<String> main = read(mainConfig);
    if (main.isPresent()) {
      Optional<ManagedBlock.Found> block = ManagedBlock.find(main.get(), src);
      if (block.isPresent()) {
        String body = main.get().substring(block.get().start(), block.get().end());
        names.addAll(handlerNames(body, ConfigSchema.V2));
      }
    }
    Optional<String> drop = readOwnDropIn();
    if (drop.isPresent()) {
      for (ConfigSchema schema : ConfigSchema.values()) {
        names.addAll(handlerNames(drop.get(), schema));
      }
    }
    return names;
  }

  /** Names of handlers other than runc in {@code text}'s runtimes table of {@code schema}. */
  static Set<String> handlerNames(String text, ConfigSchema schema) {
    Set<String> names = new TreeSet<>();
    TomlParseResult r = org.tomlj.Toml.parse(text);
    if (r.hasErrors() || !(r.get(schema.runtimesPath()) instanceof TomlTable t)) {
      return names;
    }
    for (String k : t.keySet()) {
      if (!"io.containerd.runc.v2".equals(t.get(List.of(k, "runtime_type")))) {
        names.add(k);
      }
    }
    return names;
  }

  @Override
  public ConfigSnapshot snapshot() throws ContainerdConfigException {
    try {
      return ConfigSnapshot.of(hostRoot, List.of(mainConfig, dropIn, backup()));
    } catch (IOException e) {
      throw io(e);
    }
  }

  @Override
  public void restore(ConfigSnapshot snapshot) throws ContainerdConfigException {
    try {
      // The drop-in is back before the main config imports it, and goes after it stops.
      snapshot.restore(hostRoot, List.of(dropIn, backup(), mainConfig));
    } catch (IOException e) {
      throw io(e);
    }
  }

  // --- decisions -----------------------------------------------------------------------------

  /**
   * The schema to write for {@code containerd} given the main config ({@code null} when absent):
   * its own version where containerd reads it, else containerd's native one.
   */
  static ConfigSchema schemaFor(ContainerdVersion containerd, TomlParseResult main, String src)
      throws ContainerdConfigException {
    Long version = null;
    if (main != null && main.keySet().contains("version")) {
      if (!(main.get(List.of("version")) instanceof Long v)) {
        throw new ContainerdConfigException(
            Kind.UNSUPPORTED_VERSION, src + ": 'version' must be an integer");
      }
      version = v;
    }
    if (containerd.major() == 1) {
      if (version == null || version == 2) {
        return ConfigSchema.V2;
      }
      throw new ContainerdConfigException(
          Kind.UNSUPPORTED_VERSION,
          src
              + " says version = "
              + version
              + (version < 2
                  ? ", a deprecated layout; convert it to version 2 first"
                  : " but containerd " + containerd + " reads versions 1 and 2 only"));
    }
    if (version == null || version <= 1 || version == 3) {
      // containerd 2.x migrates an old main file on its own; the drop-in speaks its native schema.
      return ConfigSchema.V3;
    }
    if (version == 2) {
      return ConfigSchema.V2;
    }
    throw new ContainerdConfigException(
        Kind.UNSUPPORTED_VERSION,
        src + " says version = " + version + ", newer than this installer knows (2 and 3)");
  }

  private static Optional<TomlTable> runtimes(TomlTable config, ConfigSchema schema) {
    return config.get(schema.runtimesPath()) instanceof TomlTable t
        ? Optional.of(t)
        : Optional.empty();
  }

  /** containerd 1.x loses its built-in runc when handlers are configured but runc is not. */
  private static boolean needsRunc(TomlParseResult parsed) {
    boolean noRuntimes = runtimes(parsed, ConfigSchema.V2).map(TomlTable::isEmpty).orElse(true);
    Object def =
        parsed.get(
            List.of("plugins", ConfigSchema.V2.criPlugin(), "containerd", "default_runtime_name"));
    return noRuntimes && (def == null || "runc".equals(def));
  }

  /**
   * containerd 1.x: an imported file that names the CRI plugin replaces the main config's whole CRI
   * section, our handlers included.
   */
  private void checkNoImportReplacesCri(TomlParseResult parsed, String src)
      throws ContainerdConfigException {
    List<String> imports = ImportsEditor.imports(parsed, src).orElse(List.of());
    for (String entry : imports) {
      for (Path file : resolveImport(entry)) {
        Optional<String> text = read(file);
        if (text.isEmpty()) {
          continue;
        }
        TomlParseResult imported = org.tomlj.Toml.parse(text.get());
        if (!imported.hasErrors()
            && imported.get(List.of("plugins", ConfigSchema.V2.criPlugin())) != null) {
          throw new ContainerdConfigException(
              Kind.CONFLICT,
              file
                  + " (imported by "
                  + src
                  + ") sets the CRI plugin, and containerd 1.x lets it replace the main config's"
                  + " whole CRI section; move those settings into "
                  + src);
        }
      }
    }
  }

  /** Host paths an imports entry names, as containerd resolves it (a '*' globs the file name). */
  private List<Path> resolveImport(String entry) throws ContainerdConfigException {
    Path p = Path.of(entry);
    if (!p.isAbsolute()) {
      p = mainConfig.resolveSibling(p);
    }
    p = p.normalize();
    if (p.equals(dropIn)) {
      return List.of();
    }
    if (!entry.contains("*")) {
      return List.of(p);
    }
    if (p.getParent() == null || p.getParent().toString().contains("*")) {
      return List.of();
    }
    var matcher = FileSystems.getDefault().getPathMatcher("glob:" + p.getFileName());
    List<Path> out = new ArrayList<>();
    Path dir = host(p.getParent());
    if (!Files.isDirectory(dir)) {
      return out;
    }
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path f : ds) {
        Path onHost = p.getParent().resolve(f.getFileName().toString());
        if (matcher.matches(f.getFileName()) && !onHost.equals(dropIn)) {
          out.add(onHost);
        }
      }
    } catch (IOException e) {
      throw io(e);
    }
    return out;
  }

  // --- checks on results before anything is written ----------------------------------------------

  private static void verifyHandlers(
      String text, ConfigSchema schema, List<RuntimeHandler> handlers, String src)
      throws ContainerdConfigException {
    TomlParseResult r = org.tomlj.Toml.parse(text);
    if (r.hasErrors()) {
      throw new ContainerdConfigException(
          Kind.CONFLICT,
          "adding the runtime handlers to "
              + src
              + " would make it invalid TOML ("
              + r.errors().getFirst().getMessage()
              + "); does it define the runtimes table inline?");
    }
    for (RuntimeHandler h : handlers) {
      List<String> key = new ArrayList<>(schema.runtimesPath());
      key.addAll(List.of(h.name(), "runtime_type"));
      if (!h.runtimeType().equals(r.get(key))) {
        throw new ContainerdConfigException(
            Kind.CONFLICT, "runtime handler '" + h.name() + "' did not end up in " + src);
      }
    }
  }

  private static void verifyOnlyImportsChanged(TomlParseResult before, String after, String src)
      throws ContainerdConfigException {
    TomlParseResult r = ImportsEditor.parse(after, src);
    var keys = new HashSet<>(before.keySet());
    keys.add(ImportsEditor.KEY);
    boolean same = keys.equals(r.keySet());
    for (String k : before.keySet()) {
      if (!k.equals(ImportsEditor.KEY)) {
        same &= canonical(before.get(List.of(k))).equals(canonical(r.get(List.of(k))));
      }
    }
    if (!same) {
      throw new IllegalStateException("editing imports of " + src + " changed other settings");
    }
  }

  private static Object canonical(Object v) {
    return switch (v) {
      case TomlTable t -> t.toJson();
      case TomlArray a -> a.toJson();
      default -> v;
    };
  }

  // --- files ---------------------------------------------------------------------------------

  private String renderDropIn(ConfigSchema schema, List<RuntimeHandler> handlers, InstallRecord r) {
    return DROP_IN_HEADER
        + "\n# Imported by "
        + mainConfig
        + "; uninstall removes it and its imports entry. Do not edit: it is rewritten.\n"
        + r.line()
        + "\nversion = "
        + schema.version()
        + "\n"
        + handlers.stream().map(h -> "\n" + h.toToml(schema)).collect(Collectors.joining());
  }

  /**
   * Renaming a temp file over a symlink would replace the link, not its target: the config would
   * silently fork. Refused instead, naming the fix.
   */
  private void refuseSymlinks() throws ContainerdConfigException {
    for (Path p : List.of(mainConfig, dropIn)) {
      if (Files.isSymbolicLink(host(p))) {
        throw new ContainerdConfigException(
            Kind.CONFLICT,
            p + " is a symbolic link; point the installer at the file it links to instead");
      }
    }
  }

  /** Our drop-in's content, if present; someone else's file at that path is a conflict. */
  private Optional<String> readOwnDropIn() throws ContainerdConfigException {
    Optional<String> text = read(dropIn);
    if (text.isPresent() && !text.get().startsWith(DROP_IN_HEADER)) {
      throw new ContainerdConfigException(
          Kind.CONFLICT,
          dropIn
              + " exists but was not written by the installer; move it away or pick another path");
    }
    return text;
  }

  private List<Change> apply(
      Optional<String> original,
      String newMain,
      Optional<String> existingDropIn,
      Optional<String> newDropIn)
      throws ContainerdConfigException {
    List<Change> changes = new ArrayList<>();
    try {
      // The drop-in exists before the main config imports it, and stays until it no longer does:
      // containerd refuses to start on an import that is missing.
      if (newDropIn.isPresent() && !newDropIn.equals(existingDropIn)) {
        AtomicFiles.write(host(dropIn), newDropIn.get());
        changes.add(
            new Change(dropIn, existingDropIn.isPresent() ? Action.UPDATED : Action.CREATED));
      }
      if (!Objects.equals(original.orElse(null), newMain)) {
        if (original.isPresent()) {
          backupOnce(original.get(), existingDropIn, changes);
        }
        AtomicFiles.write(host(mainConfig), newMain);
        changes.add(new Change(mainConfig, original.isPresent() ? Action.UPDATED : Action.CREATED));
      }
      if (newDropIn.isEmpty() && existingDropIn.isPresent() && AtomicFiles.delete(host(dropIn))) {
        changes.add(new Change(dropIn, Action.DELETED));
      }
    } catch (IOException e) {
      throw io(e);
    }
    return changes;
  }

  /**
   * The backup is the main config as it is without our changes (computed, not copied): a file we
   * already patched never becomes the backup, and an existing backup is never overwritten.
   */
  private void backupOnce(String original, Optional<String> existingDropIn, List<Change> changes)
      throws IOException, ContainerdConfigException {
    Path b = host(backup());
    if (Files.exists(b, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Optional<String> clean = withoutOurs(original, existingDropIn);
    if (clean.isPresent()) {
      AtomicFiles.writeLike(b, clean.get(), host(mainConfig));
      changes.add(new Change(backup(), Action.BACKED_UP));
    }
  }

  private Optional<String> read(Path hostPath) throws ContainerdConfigException {
    try {
      return AtomicFiles.read(host(hostPath));
    } catch (IOException e) {
      throw io(e);
    }
  }

  /** Where host path {@code p} is here. */
  private Path host(Path p) {
    return hostRoot.resolve(p.toString().substring(1));
  }

  private static ContainerdConfigException io(IOException e) {
    return new ContainerdConfigException(Kind.IO, "containerd config: " + e, e);
  }
}
