package dev.kataoperator.shim.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The command line of {@code kata-run}, parsed and checked. */
record KataRunOptions(
    Optional<Path> rootfs,
    Optional<String> image,
    boolean interactive,
    boolean tty,
    List<String> env,
    String workdir,
    long uid,
    long gid,
    int memoryMiB,
    int cpus,
    boolean readOnly,
    Optional<Path> config,
    boolean verbose,
    List<String> command) {

  static final String USAGE =
      """
      usage: kata-run (--rootfs DIR | --image OCI-LAYOUT-DIR[:TAG]) [-i] [-t] [-e K=V]... [-w DIR]
                      [-u UID[:GID]] [--memory MiB] [--cpus N] [--read-only] [--config FILE] [-v]
                      -- CMD [ARG]...
      Boots a microVM, runs CMD in a container inside it, streams stdio and exits with CMD's status.""";

  /** A command line the user got wrong; printed with the usage. */
  static final class UsageException extends RuntimeException {
    UsageException(String message) {
      super(message);
    }
  }

  static KataRunOptions parse(String[] args) {
    Optional<Path> rootfs = Optional.empty();
    Optional<String> image = Optional.empty();
    Optional<Path> config = Optional.empty();
    boolean interactive = false;
    boolean tty = false;
    boolean readOnly = false;
    boolean verbose = false;
    List<String> env = new ArrayList<>();
    String workdir = "/";
    long uid = 0;
    long gid = 0;
    int memory = 0;
    int cpus = 0;
    int i = 0;
    for (; i < args.length; i++) {
      String a = args[i];
      if (a.equals("--")) {
        i++;
        break;
      }
      switch (a) {
        case "--rootfs" -> rootfs = Optional.of(Path.of(value(args, ++i, a)));
        case "--image" -> image = Optional.of(value(args, ++i, a));
        case "--config" -> config = Optional.of(Path.of(value(args, ++i, a)));
        case "-i", "--interactive" -> interactive = true;
        case "-t", "--tty" -> tty = true;
        case "-it", "-ti" -> {
          interactive = true;
          tty = true;
        }
        case "--read-only" -> readOnly = true;
        case "-v", "--verbose" -> verbose = true;
        case "-e", "--env" -> {
          String kv = value(args, ++i, a);
          if (kv.indexOf('=') <= 0) {
            throw new UsageException("-e takes KEY=VALUE, got '" + kv + "'");
          }
          env.add(kv);
        }
        case "-w", "--workdir" -> {
          workdir = value(args, ++i, a);
          if (!workdir.startsWith("/")) {
            throw new UsageException("-w takes an absolute path, got '" + workdir + "'");
          }
        }
        case "-u", "--user" -> {
          String u = value(args, ++i, a);
          String[] parts = u.split(":", -1);
          if (parts.length > 2) {
            throw new UsageException("-u takes UID[:GID], got '" + u + "'");
          }
          uid = number(parts[0], "-u UID");
          gid = parts.length == 2 ? number(parts[1], "-u GID") : uid;
        }
        case "--memory" -> memory = (int) range(value(args, ++i, a), "--memory", 64, 1 << 20);
        case "--cpus" -> cpus = (int) range(value(args, ++i, a), "--cpus", 1, 256);
        default -> {
          if (a.startsWith("-")) {
            throw new UsageException("unknown option " + a);
          }
          // The first word that is not an option starts the command, as with docker run.
          break;
        }
      }
      if (!a.startsWith("-")) {
        break;
      }
    }
    List<String> command = List.of(args).subList(Math.min(i, args.length), args.length);
    if (command.isEmpty()) {
      throw new UsageException("no command given");
    }
    if (rootfs.isPresent() == image.isPresent()) {
      throw new UsageException("give exactly one of --rootfs DIR and --image DIR[:TAG]");
    }
    return new KataRunOptions(
        rootfs,
        image,
        interactive,
        tty,
        List.copyOf(env),
        workdir,
        uid,
        gid,
        memory,
        cpus,
        readOnly,
        config,
        verbose,
        command);
  }

  private static String value(String[] args, int i, String option) {
    if (i >= args.length) {
      throw new UsageException(option + " needs a value");
    }
    return args[i];
  }

  private static long number(String s, String what) {
    try {
      long v = Long.parseLong(s);
      if (v < 0 || v > 0xFFFF_FFFEL) {
        throw new NumberFormatException();
      }
      return v;
    } catch (NumberFormatException e) {
      throw new UsageException(what + " must be a number from 0 to 4294967294, got '" + s + "'");
    }
  }

  private static long range(String s, String what, long min, long max) {
    long v;
    try {
      v = Long.parseLong(s);
    } catch (NumberFormatException e) {
      throw new UsageException(what + " must be a number, got '" + s + "'");
    }
    if (v < min || v > max) {
      throw new UsageException(what + " must be in " + min + ".." + max + ", got " + v);
    }
    return v;
  }
}
