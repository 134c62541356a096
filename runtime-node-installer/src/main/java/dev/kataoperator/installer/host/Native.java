package dev.kataoperator.installer.host;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The few libc calls the JDK does not offer, through FFM: a unix socket peer's pid and uid
 * (SO_PEERCRED; the JDK's own option gives names only), the exchange of two directories in one
 * rename (renameat2 RENAME_EXCHANGE), and killing this process with SIGKILL (the tests' crash
 * hook). Each call is made on the calling thread; none changes process-wide state but kill.
 */
@SuppressWarnings("restricted") // FFM into libc is the point of this class
public final class Native {
  private Native() {}

  private static final int AF_UNIX = 1;
  private static final int SOCK_STREAM = 1;
  private static final int SOCK_CLOEXEC = 0x80000;
  private static final int SOL_SOCKET = 1;
  private static final int SO_PEERCRED = 17;
  private static final int AT_FDCWD = -100;
  private static final int RENAME_EXCHANGE = 2;
  private static final int SIGKILL = 9;
  private static final int SUN_PATH = 108;

  private static final Linker LINKER = Linker.nativeLinker();
  private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
  private static final VarHandle ERRNO =
      CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
  private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

  private static final MethodHandle SOCKET =
      errnoFunction(
          "socket",
          FunctionDescriptor.of(
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT));
  private static final MethodHandle CONNECT =
      errnoFunction(
          "connect",
          FunctionDescriptor.of(
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT,
              ValueLayout.ADDRESS,
              ValueLayout.JAVA_INT));
  private static final MethodHandle GETSOCKOPT =
      errnoFunction(
          "getsockopt",
          FunctionDescriptor.of(
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT,
              ValueLayout.ADDRESS,
              ValueLayout.ADDRESS));
  private static final MethodHandle CLOSE =
      function("close", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
  private static final MethodHandle RENAMEAT2 =
      errnoFunction(
          "renameat2",
          FunctionDescriptor.of(
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT,
              ValueLayout.ADDRESS,
              ValueLayout.JAVA_INT,
              ValueLayout.ADDRESS,
              ValueLayout.JAVA_INT));
  private static final MethodHandle KILL =
      function(
          "kill",
          FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
  private static final MethodHandle STRERROR =
      function("strerror", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));

  /** Who holds the other end of a unix socket: what the kernel recorded when it connected. */
  public record PeerCredentials(long pid, int uid, int gid) {}

  /**
   * Connects to the unix socket at {@code socket} and asks the kernel who listens there. The pid is
   * in this process's pid namespace (the host's, in a hostPID pod).
   */
  public static PeerCredentials peerCredentials(Path socket) throws IOException {
    byte[] path = socket.toString().getBytes(StandardCharsets.UTF_8);
    if (path.length >= SUN_PATH) {
      throw new IOException(socket + ": path longer than a unix socket address allows");
    }
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      int fd = (int) SOCKET.invokeExact(state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        throw error("socket", socket, state);
      }
      try {
        MemorySegment addr = arena.allocate(2 + SUN_PATH);
        addr.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(path, 0, addr, ValueLayout.JAVA_BYTE, 2, path.length);
        if ((int) CONNECT.invokeExact(state, fd, addr, 2 + path.length + 1) != 0) {
          throw error("connect to", socket, state);
        }
        MemorySegment cred = arena.allocate(12);
        MemorySegment len = arena.allocate(ValueLayout.JAVA_INT);
        len.set(ValueLayout.JAVA_INT, 0, 12);
        if ((int) GETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_PEERCRED, cred, len) != 0) {
          throw error("SO_PEERCRED of", socket, state);
        }
        return new PeerCredentials(
            cred.get(ValueLayout.JAVA_INT, 0),
            cred.get(ValueLayout.JAVA_INT, 4),
            cred.get(ValueLayout.JAVA_INT, 8));
      } finally {
        int ignored = (int) CLOSE.invokeExact(fd);
      }
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /**
   * Swaps two existing paths (directories or files) atomically: each name then holds what the other
   * held. Used to replace a damaged version directory that {@code current} may point to without a
   * moment where the name is missing.
   */
  public static void exchange(Path a, Path b) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      MemorySegment pa = arena.allocateFrom(a.toString());
      MemorySegment pb = arena.allocateFrom(b.toString());
      if ((int) RENAMEAT2.invokeExact(state, AT_FDCWD, pa, AT_FDCWD, pb, RENAME_EXCHANGE) != 0) {
        throw error("exchange " + a + " with", b, state);
      }
    } catch (IOException | RuntimeException | Error e) {
      throw e;
    } catch (Throwable t) {
      throw new IllegalStateException(t);
    }
  }

  /** SIGKILL to this process: nothing after this call runs, no hook, no flush. */
  public static void killSelf() {
    try {
      int ignored = (int) KILL.invokeExact((int) ProcessHandle.current().pid(), SIGKILL);
    } catch (Throwable t) {
      Runtime.getRuntime().halt(137);
    }
    Runtime.getRuntime().halt(137);
  }

  private static IOException error(String what, Path path, MemorySegment state) {
    int errno = (int) ERRNO.get(state, 0L);
    return new IOException(what + " " + path + ": " + strerror(errno) + " (errno " + errno + ")");
  }

  private static String strerror(int errno) {
    try {
      MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
      return s.reinterpret(256).getString(0);
    } catch (Throwable t) {
      return "error";
    }
  }

  private static MethodHandle function(String name, FunctionDescriptor d) {
    return LINKER.downcallHandle(
        LINKER
            .defaultLookup()
            .find(name)
            .orElseThrow(() -> new IllegalStateException("libc has no " + name)),
        d);
  }

  private static MethodHandle errnoFunction(String name, FunctionDescriptor d) {
    return LINKER.downcallHandle(
        LINKER
            .defaultLookup()
            .find(name)
            .orElseThrow(() -> new IllegalStateException("libc has no " + name)),
        d,
        CAPTURE_ERRNO);
  }
}
