package dev.kataoperator.shim.cli;

import com.google.protobuf.ByteString;
import dev.kataoperator.agent.v1.CreateContainerRequest;
import dev.kataoperator.contract.HostVirtualization;
import dev.kataoperator.contract.PayloadLayout;
import dev.kataoperator.shim.agent.AgentException;
import dev.kataoperator.shim.config.ConfigException;
import dev.kataoperator.shim.config.RuntimeConfig;
import dev.kataoperator.shim.hypervisor.HypervisorException;
import dev.kataoperator.shim.sandbox.GuestProcess;
import dev.kataoperator.shim.sandbox.Hypervisors;
import dev.kataoperator.shim.sandbox.RunDirs;
import dev.kataoperator.shim.sandbox.Sandbox;
import dev.kataoperator.shim.sandbox.SandboxException;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.logging.Level;

/**
 * {@code kata-run}: boots a microVM, runs one command in a container inside it, streams stdio and
 * exits with the command's status. Nothing of its own goes to stdout; progress and errors go to
 * stderr. The VM is torn down on every path out, Ctrl-C included.
 */
public final class KataRun {
  /** Exit status when kata-run itself fails (as docker run does). */
  static final int EXIT_RUNTIME_ERROR = 125;

  private static final Path DEFAULT_CONFIG = PayloadLayout.defaultConfig();
  private static final Path RUN_ROOT = PayloadLayout.KATA_RUN_RUN_ROOT;

  private KataRun() {}

  public static void main(String[] args) {
    KataRunOptions options;
    try {
      options = KataRunOptions.parse(args);
    } catch (KataRunOptions.UsageException e) {
      System.err.println("kata-run: " + e.getMessage());
      System.err.println(KataRunOptions.USAGE);
      System.exit(2);
      return;
    }
    CliLogging.configure("kata-run", options.verbose() ? Level.FINE : Level.INFO);
    var teardown = new Teardown();
    Thread hook = new Thread(teardown::close, "kata-run-teardown");
    Runtime.getRuntime().addShutdownHook(hook);
    int status;
    try {
      status = run(options, teardown);
    } catch (SandboxException
        | HypervisorException
        | ConfigException
        | AgentException
        | IllegalArgumentException e) {
      status = EXIT_RUNTIME_ERROR;
      if (!teardown.started()) {
        System.err.println("kata-run: " + e.getMessage());
      }
    }
    if (teardown.started()) {
      // Ctrl-C or SIGTERM: the shutdown hook is tearing down; the JVM exits when it is done.
      teardown.awaitClosed();
      return;
    }
    teardown.close();
    System.out.flush();
    // halt: everything is torn down, and a thread blocked reading stdin must not keep us alive.
    Runtime.getRuntime().halt(status);
  }

  static int run(KataRunOptions o, Teardown teardown) {
    Path configFile =
        o.config()
            .or(() -> Optional.ofNullable(System.getenv("KATA_CONFIG")).map(Path::of))
            .orElse(DEFAULT_CONFIG);
    RuntimeConfig config = RuntimeConfig.load(configFile);
    String id = "run-" + HexFormat.of().formatHex(randomBytes(6));
    Path runDir = RUN_ROOT.resolve(id);
    RunDirs.sweepStale(RUN_ROOT);
    teardown.onClose(() -> RunDirs.deleteQuietly(runDir));
    try {
      RunDirs.createOwned(runDir);
    } catch (IOException e) {
      throw new SandboxException("cannot create " + runDir + ": " + e.getMessage(), e);
    }
    Path rootfs;
    if (o.image().isPresent()) {
      Path unpacked = runDir.resolve("image-rootfs");
      rootfs = OciImages.unpack(o.image().get(), unpacked);
    } else {
      rootfs = o.rootfs().get().toAbsolutePath();
      if (!Files.isDirectory(rootfs)) {
        throw new IllegalArgumentException("--rootfs " + rootfs + " is not a directory");
      }
    }
    Sandbox sandbox =
        teardown.own(
            () ->
                Sandbox.boot(
                    new Sandbox.Spec(id, runDir, rootfs, o.readOnly(), o.memoryMiB(), o.cpus(), id),
                    config,
                    Hypervisors.forConfig(config),
                    HostVirtualization.probe()));
    return runContainer(sandbox, o, id);
  }

  private static int runContainer(Sandbox sandbox, KataRunOptions o, String id) {
    String cid = "main";
    var agent = sandbox.agent();
    sandbox.createContainer(
        CreateContainerRequest.newBuilder()
            .setContainerId(cid)
            .setOciSpecJson(ByteString.copyFrom(OciSpecs.toBytes(OciSpecs.forRun(o, id))))
            .setRootfsPath(Sandbox.GUEST_SHARED_DIR)
            .setTerminal(o.tty())
            .setStdin(o.interactive())
            .build());
    var process = new GuestProcess(agent, cid, "");
    OutputStream out = new FileOutputStream(FileDescriptor.out);
    OutputStream err = new FileOutputStream(FileDescriptor.err);
    Thread stdout = process.pumpStdout(out);
    Thread stderr = process.pumpStderr(err);
    try (var terminal = o.tty() ? Terminal.raw(process) : Terminal.none()) {
      agent.startContainer(cid);
      if (o.interactive()) {
        InputStream in = System.in;
        process.pumpStdin(in);
      }
      int status = process.waitFor();
      stdout.join();
      stderr.join();
      return status;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 130;
    } catch (IOException e) {
      throw new SandboxException("terminal: " + e.getMessage(), e);
    }
  }

  private static byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    ThreadLocalRandom.current().nextBytes(b);
    return b;
  }
}
