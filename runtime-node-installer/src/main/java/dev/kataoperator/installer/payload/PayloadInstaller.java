package dev.kataoperator.installer.payload;

import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.installer.Log;
import dev.kataoperator.installer.fs.AtomicFiles;
import dev.kataoperator.installer.host.HostExec;
import dev.kataoperator.installer.host.Native;
import dev.kataoperator.installer.payload.PayloadException.Kind;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Puts the payload on the node under {@code prefix} (docs/payload.md) and takes it away again.
 *
 * <p>A version is copied from the image into a hidden temp directory next to where it goes, every
 * file checked against the manifest on the way, the runtime class configs written into it, and only
 * then renamed to {@code versions/<v>}: that name never holds a partial copy. The shim's AOT cache
 * is made there, at its final path (the cache records it), and kept only if the shim's JVM can use
 * it from there. Then {@code previous} and {@code current} are switched, each with an atomic rename
 * of a new symbolic link, and {@code bin/containerd-shim-<class>-v2} links point at {@code
 * current}'s launcher. Installing a version that is already there, intact, writes nothing.
 *
 * <p>Paths: {@code prefix} is a host path; {@code hostRoot} is where the host's files are here.
 * Programs that must run with the host's libraries (the payload's java) run through {@link
 * HostExec}, at host paths.
 */
public final class PayloadInstaller {
  private static final String TMP = ".kata-tmp-";
  private static final String OLD = ".kata-old-";
  private static final Set<PosixFilePermission> DIR_MODE =
      PosixFilePermissions.fromString("rwxr-xr-x");
  private static final Set<PosixFilePermission> CONFIG_MODE =
      PosixFilePermissions.fromString("rw-r--r--");
  private static final String AOT_DROPPED = PayloadLayout.AOT_CACHE + ".unusable";
  private static final Duration JAVA_TIMEOUT = Duration.ofSeconds(300);
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Path hostRoot;
  private final Path prefix;
  private final HostExec exec;
  private final Consumer<String> checkpoint;

  /**
   * @param prefix where the payload goes (a host path, {@code /opt/kata})
   * @param checkpoint told the name of each point where a killed run must still converge (the
   *     tests' crash hook)
   */
  public PayloadInstaller(Path hostRoot, Path prefix, HostExec exec, Consumer<String> checkpoint) {
    if (!prefix.isAbsolute()) {
      throw new IllegalArgumentException("prefix must be an absolute host path: " + prefix);
    }
    this.hostRoot = hostRoot;
    this.prefix = prefix.normalize();
    this.exec = exec;
    this.checkpoint = checkpoint;
  }

  /**
   * What {@link #install} did.
   *
   * @param version the version now current
   * @param previous the version current pointed to before, if it moved (rollback goes there)
   * @param created whether this run put the version directory in place
   * @param switched whether {@code current} moved
   * @param addedLaunchers the runtime classes whose launcher link this run created
   * @param aot what became of the AOT cache, one line
   */
  public record Installed(
      String version,
      Optional<String> previous,
      boolean created,
      boolean switched,
      List<String> addedLaunchers,
      String aot) {

    /** One line for the log. */
    public String describe() {
      return version
          + (created ? " copied and verified" : " already in place")
          + (switched ? ", current switched from " + previous.orElse("nothing") : "")
          + (addedLaunchers.isEmpty() ? "" : ", launchers for " + addedLaunchers)
          + "; AOT cache: "
          + aot;
    }
  }

  // --- paths ------------------------------------------------------------------------------------

  private Path here(Path hostPath) {
    return hostRoot.resolve(hostPath.toString().substring(1));
  }

  private Path prefixHere() {
    return here(prefix);
  }

  private Path versionsHere() {
    return prefixHere().resolve(PayloadLayout.VERSIONS_DIR);
  }

  private Path binHere() {
    return prefixHere().resolve(PayloadLayout.BIN_DIR);
  }

  private Path link(String name) {
    return prefixHere().resolve(name);
  }

  /** The version {@code current} names, if it names one. */
  public Optional<String> currentVersion() throws PayloadException {
    return linkedVersion(PayloadLayout.CURRENT_LINK);
  }

  private Optional<String> linkedVersion(String name) throws PayloadException {
    try {
      Path t = Files.readSymbolicLink(link(name));
      return t.getNameCount() == 2 && t.getName(0).toString().equals(PayloadLayout.VERSIONS_DIR)
          ? Optional.of(t.getFileName().toString())
          : Optional.empty();
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw io(e);
    }
  }

  /** The runtime classes that have a launcher link of ours in {@code bin/}. */
  public Set<String> launcherClasses() throws PayloadException {
    Set<String> out = new TreeSet<>();
    for (Path p : ourLaunchers()) {
      String n = p.getFileName().toString();
      out.add(n.substring("containerd-shim-".length(), n.length() - "-v2".length()));
    }
    return out;
  }

  // --- install ------------------------------------------------------------------------------

  public Installed install(PayloadSource src, List<ClassConfig> classes) throws PayloadException {
    try {
      for (Path d : List.of(prefixHere(), versionsHere(), binHere())) {
        Files.createDirectories(d);
      }
      removeLeftovers();
      String v = src.version();
      Path dir = versionsHere().resolve(v);
      boolean created = false;
      if (Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
        Optional<String> problem = damage(src, dir);
        if (problem.isPresent()) {
          Log.warn(
              "payload " + v + " on the node is damaged (" + problem.get() + "): replacing it");
          Path fresh = build(src, classes);
          checkpoint.accept("payload:built");
          // One rename swaps the two trees: versions/<v> is never missing, even for current.
          Native.exchange(fresh, dir);
          deleteTree(fresh);
          created = true;
        }
      } else if (Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
        throw new PayloadException(Kind.CONFLICT, dir + " exists and is not a directory");
      } else {
        Path fresh = build(src, classes);
        checkpoint.accept("payload:built");
        Files.move(fresh, dir, StandardCopyOption.ATOMIC_MOVE);
        AtomicFiles.syncDirectory(versionsHere());
        created = true;
      }
      checkpoint.accept("payload:in-place");
      writeClassConfigs(src, dir, classes);
      String aot = ensureAot(v);
      checkpoint.accept("payload:aot");

      Optional<String> before = currentVersion();
      boolean switched = false;
      if (!before.equals(Optional.of(v))) {
        if (before.isPresent()) {
          pointLink(PayloadLayout.PREVIOUS_LINK, versionTarget(before.get()));
        }
        pointLink(PayloadLayout.CURRENT_LINK, versionTarget(v));
        switched = true;
        checkpoint.accept("payload:switched");
      }
      List<String> added = new ArrayList<>();
      for (ClassConfig c : classes) {
        String target =
            "../"
                + PayloadLayout.CURRENT_LINK
                + "/"
                + PayloadLayout.BIN_DIR
                + "/"
                + PayloadLayout.launcher(c.hypervisor());
        Path l = binHere().resolve(PayloadLayout.shimBinary(c.runtimeClass()));
        boolean existed = Files.exists(l, LinkOption.NOFOLLOW_LINKS);
        if (pointLink(l, target) && !existed) {
          added.add(c.runtimeClass());
        }
      }
      return new Installed(v, switched ? before : Optional.empty(), created, switched, added, aot);
    } catch (IOException e) {
      throw io(e);
    }
  }

  /** Copies the version into a fresh hidden directory, checking every digest; returns it. */
  private Path build(PayloadSource src, List<ClassConfig> classes)
      throws IOException, PayloadException {
    Path tmp = versionsHere().resolve("." + src.version() + TMP + hex());
    Files.createDirectory(tmp, PosixFilePermissions.asFileAttribute(DIR_MODE));
    try {
      List<String> links = new ArrayList<>();
      for (Map.Entry<String, String> e : src.files().entrySet()) {
        Path from = src.versionDir().resolve(e.getKey());
        Path to = tmp.resolve(e.getKey());
        Files.createDirectories(to.getParent(), PosixFilePermissions.asFileAttribute(DIR_MODE));
        if (Files.isSymbolicLink(from)) {
          Path target = Files.readSymbolicLink(from);
          if (target.isAbsolute() || !to.getParent().resolve(target).normalize().startsWith(tmp)) {
            throw new PayloadException(
                Kind.BAD_IMAGE,
                from + " links outside its version directory (" + target + "); not installed");
          }
          Files.createSymbolicLink(to, target);
          links.add(e.getKey());
        } else {
          String digest = copyHashing(from, to);
          if (!digest.equals(e.getValue())) {
            throw new PayloadException(
                Kind.DIGEST_MISMATCH,
                "payload file "
                    + e.getKey()
                    + " has sha256 "
                    + digest
                    + ", the manifest says "
                    + e.getValue()
                    + "; the image is damaged: pull it again");
          }
          Files.setPosixFilePermissions(to, Files.getPosixFilePermissions(from));
        }
      }
      for (String l : links) {
        String digest = hash(tmp.resolve(l));
        if (!digest.equals(src.files().get(l))) {
          throw new PayloadException(
              Kind.DIGEST_MISMATCH,
              "payload link "
                  + l
                  + " leads to content with sha256 "
                  + digest
                  + ", not the manifest's");
        }
      }
      writeClassConfigs(src, tmp, classes);
      syncTree(tmp);
      return tmp;
    } catch (IOException | PayloadException | RuntimeException e) {
      deleteTree(tmp);
      throw e;
    }
  }

  /**
   * Why the installed copy of the version differs from the image, if it does: a file or link that
   * is missing, of another kind, size or mode, or a link with another target. Every byte was
   * checked against the manifest when the copy was made, and the copy became visible only whole (a
   * rename), so a rerun (every restart of the pod) checks the shape, not every digest again. The
   * runtime class configs (share/defaults/*.toml) are written separately; the AOT cache is made on
   * the node and is not in the manifest.
   */
  private Optional<String> damage(PayloadSource src, Path dir) throws IOException {
    for (String rel : src.files().keySet()) {
      if (isDefaultsToml(rel)) {
        continue;
      }
      Path from = src.versionDir().resolve(rel);
      Path to = dir.resolve(rel);
      if (Files.isSymbolicLink(from)) {
        if (!Files.isSymbolicLink(to)
            || !Files.readSymbolicLink(to).equals(Files.readSymbolicLink(from))) {
          return Optional.of(rel + " is not the link the image has");
        }
      } else if (!Files.isRegularFile(to, LinkOption.NOFOLLOW_LINKS)) {
        return Optional.of(rel + " is missing");
      } else if (Files.size(to) != Files.size(from)) {
        return Optional.of(rel + " has changed");
      } else if (!Files.getPosixFilePermissions(to, LinkOption.NOFOLLOW_LINKS)
          .equals(Files.getPosixFilePermissions(from))) {
        return Optional.of(rel + " has other permissions than in the image");
      }
    }
    return Optional.empty();
  }

  private static boolean isDefaultsToml(String rel) {
    Path p = Path.of(rel);
    return p.getParent() != null
        && p.getParent().toString().equals(PayloadLayout.DEFAULTS_DIR)
        && rel.endsWith(".toml");
  }

  /** Writes each class's config into {@code dir} where its content differs. */
  private void writeClassConfigs(PayloadSource src, Path dir, List<ClassConfig> classes)
      throws IOException, PayloadException {
    for (ClassConfig c : classes) {
      Path template =
          src.versionDir().resolve(PayloadLayout.DEFAULTS_DIR).resolve(c.templateName());
      if (!Files.isRegularFile(template)) {
        throw new PayloadException(
            Kind.BAD_TEMPLATE,
            "the payload has no " + PayloadLayout.DEFAULTS_DIR + "/" + c.templateName());
      }
      String text = c.render(Files.readString(template));
      Path file = dir.resolve(PayloadLayout.DEFAULTS_DIR).resolve(c.fileName());
      if (!text.equals(AtomicFiles.read(file).orElse(null))) {
        AtomicFiles.write(file, text.getBytes(StandardCharsets.UTF_8), CONFIG_MODE);
      }
    }
  }

  // --- the AOT cache ---------------------------------------------------------------------------

  /**
   * Makes the shim's AOT cache in version {@code v}'s lib/ with a training run of the shim on the
   * payload's JRE, at the path the launcher will use, and keeps it only if a JVM started with
   * {@code -XX:AOTMode=on} (which fails when the cache cannot be used) accepts it from there. A
   * cache that cannot be made usable is dropped, and why is noted next to it so later runs do not
   * try again (and write nothing).
   */
  private String ensureAot(String v) throws IOException {
    Path lib = versionsHere().resolve(v).resolve(PayloadLayout.LIB_DIR);
    Path cache = lib.resolve(PayloadLayout.AOT_CACHE);
    Path dropped = lib.resolve(AOT_DROPPED);
    if (Files.isRegularFile(cache, LinkOption.NOFOLLOW_LINKS)) {
      return "present";
    }
    if (Files.isRegularFile(dropped, LinkOption.NOFOLLOW_LINKS)) {
      return "none (" + Files.readString(dropped).strip() + ")";
    }
    // The launcher resolves its own path (readlink -f) and runs the JVM from there: so must we.
    Path hostDir = prefix.resolve(PayloadLayout.VERSIONS_DIR).resolve(v);
    HostExec.Result real = exec.run(List.of("readlink", "-f", hostDir.toString()), JAVA_TIMEOUT);
    if (real.ok() && !real.output().isBlank()) {
      hostDir = Path.of(real.output().strip());
    }
    Path hostLib = hostDir.resolve(PayloadLayout.LIB_DIR);
    String java = hostDir.resolve(PayloadLayout.JRE_DIR).resolve("bin/java").toString();
    String options = "@" + hostLib.resolve(PayloadLayout.JVM_OPTIONS);
    String cp = hostLib + "/*";
    Path tmpHost = hostLib.resolve(PayloadLayout.AOT_CACHE + TMP + hex());
    Path tmp = lib.resolve(tmpHost.getFileName().toString());
    String why;
    HostExec.Result train =
        exec.run(
            List.of(
                java,
                "-XX:AOTCacheOutput=" + tmpHost,
                options,
                "-cp",
                cp,
                PayloadLayout.SHIM_MAIN,
                "-info"),
            JAVA_TIMEOUT);
    if (train.ok() && Files.isRegularFile(tmp)) {
      Files.move(tmp, cache, StandardCopyOption.ATOMIC_MOVE);
      AtomicFiles.syncDirectory(lib);
      HostExec.Result check =
          exec.run(
              List.of(
                  java,
                  "-XX:AOTCache=" + hostLib.resolve(PayloadLayout.AOT_CACHE),
                  "-XX:AOTMode=on",
                  options,
                  // after the options file, whose -Xlog:disable would hide why it fails
                  "-Xlog:aot=error,cds=error:stderr",
                  "-cp",
                  cp,
                  PayloadLayout.SHIM_MAIN,
                  "-info"),
              JAVA_TIMEOUT);
      if (check.ok()) {
        return "made and verified";
      }
      Files.deleteIfExists(cache);
      why = "made, but the shim's JVM cannot use it from " + hostLib + ": " + check.describe();
    } else {
      why = "the training run failed: " + train.describe();
    }
    removeAotLeftovers(lib);
    Log.warn("AOT cache dropped for payload " + v + ": " + why + "; shims start without it");
    if (train.exit() != 124) {
      // Noted so later runs leave lib/ alone; a timeout (a loaded node) is tried again.
      AtomicFiles.write(dropped, (why + "\n").getBytes(StandardCharsets.UTF_8), CONFIG_MODE);
    }
    return "none (" + why + ")";
  }

  private static void removeAotLeftovers(Path lib) throws IOException {
    try (Stream<Path> s = Files.list(lib)) {
      for (Path p : s.toList()) {
        if (p.getFileName().toString().startsWith(PayloadLayout.AOT_CACHE + TMP)) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  // --- rollback, cleanup, uninstall
  // ---------------------------------------------------------------

  /**
   * Undoes {@link #install} after containerd could not use the new version: {@code current} back to
   * the previous version, launchers this run added removed, and a version directory this run
   * created (no longer current) removed. A first install keeps its files: nothing refers to them.
   */
  public void rollback(Installed i) throws PayloadException {
    try {
      if (i.switched() && i.previous().isPresent()) {
        pointLink(PayloadLayout.CURRENT_LINK, versionTarget(i.previous().get()));
        for (String c : i.addedLaunchers()) {
          AtomicFiles.delete(binHere().resolve(PayloadLayout.shimBinary(c)));
        }
        if (i.created()) {
          removeVersion(i.version());
        }
      }
    } catch (IOException e) {
      throw io(e);
    }
  }

  /**
   * After containerd serves the new state: launchers of classes no longer wanted removed, versions
   * other than current and previous removed, and stale class configs in the current version removed
   * (or, for a file the image ships, set back to the image's content).
   */
  public void cleanup(PayloadSource src, List<ClassConfig> classes) throws PayloadException {
    Set<String> wanted =
        classes.stream().map(ClassConfig::runtimeClass).collect(Collectors.toSet());
    try {
      for (Path l : ourLaunchers()) {
        String n = l.getFileName().toString();
        String c = n.substring("containerd-shim-".length(), n.length() - "-v2".length());
        if (!wanted.contains(c)) {
          AtomicFiles.delete(l);
        }
      }
      Set<String> keep = new TreeSet<>();
      currentVersion().ifPresent(keep::add);
      linkedVersion(PayloadLayout.PREVIOUS_LINK).ifPresent(keep::add);
      for (String v : versionDirs()) {
        if (!keep.contains(v)) {
          removeVersion(v);
        }
      }
      Optional<String> current = currentVersion();
      if (current.isPresent() && current.get().equals(src.version())) {
        Path defaults = versionsHere().resolve(current.get()).resolve(PayloadLayout.DEFAULTS_DIR);
        Set<String> wantedFiles =
            classes.stream().map(ClassConfig::fileName).collect(Collectors.toSet());
        try (Stream<Path> s = Files.list(defaults)) {
          for (Path f : s.toList()) {
            String name = f.getFileName().toString();
            if (!name.endsWith(".toml") || wantedFiles.contains(name)) {
              continue;
            }
            Path shipped = src.versionDir().resolve(PayloadLayout.DEFAULTS_DIR).resolve(name);
            if (Files.isRegularFile(shipped)) {
              String text = Files.readString(shipped);
              if (!text.equals(AtomicFiles.read(f).orElse(null))) {
                AtomicFiles.write(
                    f,
                    text.getBytes(StandardCharsets.UTF_8),
                    Files.getPosixFilePermissions(shipped));
              }
            } else {
              AtomicFiles.delete(f);
            }
          }
        }
      }
    } catch (IOException e) {
      throw io(e);
    }
  }

  /**
   * Removes everything of ours under the prefix: launchers first (containerd no longer names them),
   * then {@code current} and {@code previous}, then each version (renamed to a hidden name first,
   * so a half-deleted tree never sits under a version's name), then the directories if empty. Other
   * files under the prefix are left alone.
   *
   * @return whether anything was removed
   */
  public boolean uninstall() throws PayloadException {
    if (!Files.isDirectory(prefixHere())) {
      return false;
    }
    boolean removed = false;
    try {
      removeLeftovers();
      for (Path l : ourLaunchers()) {
        removed |= AtomicFiles.delete(l);
      }
      checkpoint.accept("payload:launchers-removed");
      removed |= AtomicFiles.delete(link(PayloadLayout.CURRENT_LINK));
      removed |= AtomicFiles.delete(link(PayloadLayout.PREVIOUS_LINK));
      for (String v : versionDirs()) {
        removeVersion(v);
        removed = true;
      }
      for (Path d : List.of(binHere(), versionsHere(), prefixHere())) {
        removed |= removeIfEmpty(d);
      }
    } catch (IOException e) {
      throw io(e);
    }
    return removed;
  }

  private boolean removeIfEmpty(Path d) {
    try {
      return Files.deleteIfExists(d);
    } catch (DirectoryNotEmptyException e) {
      Log.info(d + " is left: it holds files that are not the installer's");
      return false;
    } catch (FileSystemException e) {
      // the prefix is a mount point in the installer's pod (a hostPath volume): it stays
      Log.debug("cannot remove " + d + ": " + e.getMessage());
      return false;
    } catch (IOException e) {
      Log.debug("cannot remove " + d + ": " + e.getMessage());
      return false;
    }
  }

  // --- helpers ------------------------------------------------------------------------------

  private List<Path> ourLaunchers() throws PayloadException {
    List<Path> out = new ArrayList<>();
    if (!Files.isDirectory(binHere())) {
      return out;
    }
    String mark = "../" + PayloadLayout.CURRENT_LINK + "/";
    try (Stream<Path> s = Files.list(binHere())) {
      for (Path p : s.sorted().toList()) {
        String n = p.getFileName().toString();
        if (Files.isSymbolicLink(p)
            && n.startsWith("containerd-shim-")
            && n.endsWith("-v2")
            && Files.readSymbolicLink(p).toString().startsWith(mark)) {
          out.add(p);
        }
      }
    } catch (IOException e) {
      throw io(e);
    }
    return out;
  }

  private List<String> versionDirs() throws IOException {
    if (!Files.isDirectory(versionsHere())) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(versionsHere())) {
      return s.map(p -> p.getFileName().toString())
          .filter(n -> !n.startsWith("."))
          .sorted()
          .toList();
    }
  }

  private void removeVersion(String v) throws IOException {
    Path dir = versionsHere().resolve(v);
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    Path old = versionsHere().resolve("." + v + OLD + hex());
    Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
    AtomicFiles.syncDirectory(versionsHere());
    deleteTree(old);
  }

  /** Temp and half-removed trees, temp links and temp files a killed run left. */
  private void removeLeftovers() throws IOException {
    for (Path d : List.of(versionsHere(), prefixHere(), binHere())) {
      if (!Files.isDirectory(d)) {
        continue;
      }
      try (Stream<Path> s = Files.list(d)) {
        for (Path p : s.toList()) {
          String n = p.getFileName().toString();
          if (n.startsWith(".") && (n.contains(TMP) || n.contains(OLD) || AtomicFiles.isTemp(n))) {
            deleteTree(p);
          }
        }
      }
    }
    for (String v : versionDirs()) {
      Path lib = versionsHere().resolve(v).resolve(PayloadLayout.LIB_DIR);
      if (Files.isDirectory(lib)) {
        removeAotLeftovers(lib);
      }
    }
  }

  /** {@code versions/<v>}: what current and previous point to. */
  private static String versionTarget(String v) {
    return PayloadLayout.VERSIONS_DIR + "/" + v;
  }

  private boolean pointLink(String name, String target) throws IOException {
    return pointLink(link(name), target);
  }

  /** Makes {@code link} point to {@code target} by renaming a new link over it; false if it did. */
  private static boolean pointLink(Path link, String target) throws IOException {
    try {
      if (Files.readSymbolicLink(link).toString().equals(target)) {
        return false;
      }
    } catch (NoSuchFileException e) {
      // new link
    } catch (java.nio.file.NotLinkException e) {
      throw new IOException(link + " exists and is not a symbolic link; move it away");
    }
    Path tmp = link.resolveSibling("." + link.getFileName() + TMP + hex());
    Files.createSymbolicLink(tmp, Path.of(target));
    try {
      Files.move(tmp, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
    }
    AtomicFiles.syncDirectory(link.getParent());
    return true;
  }

  private static String copyHashing(Path from, Path to) throws IOException {
    MessageDigest md = sha256();
    try (InputStream in = Files.newInputStream(from, LinkOption.NOFOLLOW_LINKS);
        FileChannel out =
            FileChannel.open(
                to,
                StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE,
                LinkOption.NOFOLLOW_LINKS)) {
      byte[] buf = new byte[1 << 20];
      int n;
      while ((n = in.read(buf)) > 0) {
        md.update(buf, 0, n);
        ByteBuffer b = ByteBuffer.wrap(buf, 0, n);
        while (b.hasRemaining()) {
          out.write(b);
        }
      }
      out.force(true);
    }
    return HexFormat.of().formatHex(md.digest());
  }

  static String hash(Path file) throws IOException {
    MessageDigest md = sha256();
    try (InputStream in = Files.newInputStream(file)) {
      byte[] buf = new byte[1 << 20];
      int n;
      while ((n = in.read(buf)) > 0) {
        md.update(buf, 0, n);
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is missing from this JRE", e);
    }
  }

  private static void syncTree(Path root) throws IOException {
    try (Stream<Path> s = Files.walk(root)) {
      for (Path d : s.filter(p -> Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)).toList()) {
        AtomicFiles.syncDirectory(d);
      }
    }
  }

  static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (Stream<Path> s = Files.walk(root)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private static String hex() {
    return HexFormat.of().toHexDigits(RANDOM.nextInt());
  }

  private static PayloadException io(IOException e) {
    return new PayloadException(Kind.IO, "payload: " + e, e);
  }
}
