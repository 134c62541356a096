package dev.kataoperator.shim.host;

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
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * IPv4 TCP sockets as raw file descriptors, through the FFM API, for the two things java.net cannot
 * do: make a listener inside another network namespace (a pod's), and tell the original destination
 * of a connection that netfilter redirected to it ({@code SO_ORIGINAL_DST}). Calls block; use them
 * from platform threads.
 */
public final class NativeSockets {
  private static final Linker LINKER = Linker.nativeLinker();
  private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
  private static final VarHandle ERRNO =
      CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
  private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
  private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
  private static final ValueLayout ADDR = ValueLayout.ADDRESS;

  private static final MethodHandle SOCKET =
      handle("socket", FunctionDescriptor.of(INT, INT, INT, INT));
  private static final MethodHandle SETSOCKOPT =
      handle("setsockopt", FunctionDescriptor.of(INT, INT, INT, INT, ADDR, INT));
  private static final MethodHandle GETSOCKOPT =
      handle("getsockopt", FunctionDescriptor.of(INT, INT, INT, INT, ADDR, ADDR));
  private static final MethodHandle BIND =
      handle("bind", FunctionDescriptor.of(INT, INT, ADDR, INT));
  private static final MethodHandle LISTEN = handle("listen", FunctionDescriptor.of(INT, INT, INT));
  private static final MethodHandle GETSOCKNAME =
      handle("getsockname", FunctionDescriptor.of(INT, INT, ADDR, ADDR));
  private static final MethodHandle ACCEPT4 =
      handle("accept4", FunctionDescriptor.of(INT, INT, ADDR, ADDR, INT));
  private static final MethodHandle READ =
      handle("read", FunctionDescriptor.of(LONG, INT, ADDR, LONG));
  private static final MethodHandle WRITE =
      handle("write", FunctionDescriptor.of(LONG, INT, ADDR, LONG));
  private static final MethodHandle SHUTDOWN =
      handle("shutdown", FunctionDescriptor.of(INT, INT, INT));
  private static final MethodHandle CLOSE = handle("close", FunctionDescriptor.of(INT, INT));
  private static final MethodHandle SETNS = handle("setns", FunctionDescriptor.of(INT, INT, INT));
  private static final MethodHandle OPEN =
      LINKER.downcallHandle(
          LINKER.defaultLookup().find("open").orElseThrow(),
          FunctionDescriptor.of(INT, ADDR, INT, INT),
          Linker.Option.firstVariadicArg(2),
          Linker.Option.captureCallState("errno"));

  private static final int AF_INET = 2;
  private static final int SOCK_STREAM = 1;
  private static final int SOCK_CLOEXEC = 02000000;
  private static final int SOL_SOCKET = 1;
  private static final int SO_REUSEADDR = 2;
  private static final int SOL_IP = 0;
  private static final int SO_ORIGINAL_DST = 80;
  private static final int IPPROTO_TCP = 6;
  private static final int TCP_NODELAY = 1;
  private static final int O_RDONLY_CLOEXEC = 02000000;
  private static final int CLONE_NEWNET = 0x40000000;
  private static final int EINTR = 4;
  private static final int SOCKADDR_IN = 16;

  /** shutdown(2)'s {@code how}: no more sends. */
  public static final int SHUT_WR = 1;

  /** shutdown(2)'s {@code how}: no more receptions or sends; wakes blocked reads and accepts. */
  public static final int SHUT_RDWR = 2;

  private NativeSockets() {}

  private static MethodHandle handle(String name, FunctionDescriptor d) {
    return LINKER.downcallHandle(
        LINKER.defaultLookup().find(name).orElseThrow(),
        d,
        Linker.Option.captureCallState("errno"));
  }

  private static IOException failure(String call, MemorySegment state) {
    int errno = (int) ERRNO.get(state, 0L);
    return new IOException(call + " failed: errno " + errno);
  }

  private static int errno(MemorySegment state) {
    return (int) ERRNO.get(state, 0L);
  }

  /**
   * A TCP listener on 127.0.0.1 of the network namespace at {@code netns}, on a port the kernel
   * picks. The socket is made by a platform thread of its own that enters the namespace and ends
   * right after: no thread that runs anything else ever changes namespace. A socket stays in the
   * namespace it was made in, whoever uses it later.
   *
   * @return the listening socket's file descriptor
   */
  public static int listenOnLoopback(Path netns) throws IOException {
    var result = new CompletableFuture<Integer>();
    Thread t =
        Thread.ofPlatform()
            .daemon()
            .name("listen-in-" + netns.getFileName())
            .start(
                () -> {
                  try {
                    result.complete(listenOnLoopbackHere(netns));
                  } catch (Throwable e) {
                    result.completeExceptionally(e);
                  }
                });
    try {
      t.join();
      return result.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while making a listener in " + netns, e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof IOException io) {
        throw io;
      }
      throw new IOException("making a listener in " + netns + ": " + e.getCause(), e.getCause());
    }
  }

  /** On the calling thread, which stays in the pod's namespace: it must end right after. */
  private static int listenOnLoopbackHere(Path netns) throws Throwable {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      int target =
          (int) OPEN.invokeExact(state, arena.allocateFrom(netns.toString()), O_RDONLY_CLOEXEC, 0);
      if (target < 0) {
        throw new IOException("open " + netns + ": errno " + errno(state));
      }
      try {
        if ((int) SETNS.invokeExact(state, target, CLONE_NEWNET) != 0) {
          throw new IOException("setns into " + netns + ": errno " + errno(state));
        }
      } finally {
        int ignored = (int) CLOSE.invokeExact(state, target);
      }
      int fd = (int) SOCKET.invokeExact(state, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        throw failure("socket", state);
      }
      try {
        MemorySegment one = arena.allocateFrom(INT, 1);
        if ((int) SETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_REUSEADDR, one, 4) != 0) {
          throw failure("setsockopt SO_REUSEADDR", state);
        }
        MemorySegment addr = sockaddrIn(arena, 0);
        if ((int) BIND.invokeExact(state, fd, addr, SOCKADDR_IN) != 0) {
          throw failure("bind 127.0.0.1:0", state);
        }
        if ((int) LISTEN.invokeExact(state, fd, 64) != 0) {
          throw failure("listen", state);
        }
        return fd;
      } catch (Throwable e) {
        int ignored = (int) CLOSE.invokeExact(state, fd);
        throw e;
      }
    }
  }

  /** 127.0.0.1:port as a struct sockaddr_in. */
  private static MemorySegment sockaddrIn(Arena arena, int port) {
    MemorySegment a = arena.allocate(SOCKADDR_IN);
    a.set(ValueLayout.JAVA_SHORT, 0, (short) AF_INET);
    a.set(ValueLayout.JAVA_SHORT.withOrder(ByteOrder.BIG_ENDIAN), 2, (short) port);
    a.set(ValueLayout.JAVA_INT.withOrder(ByteOrder.BIG_ENDIAN), 4, 0x7f000001);
    return a;
  }

  private static int portOf(MemorySegment sockaddrIn) {
    return Short.toUnsignedInt(
        sockaddrIn.get(ValueLayout.JAVA_SHORT.withOrder(ByteOrder.BIG_ENDIAN), 2));
  }

  /** The local port a socket is bound to. */
  public static int localPort(int fd) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      MemorySegment addr = arena.allocate(SOCKADDR_IN);
      MemorySegment len = arena.allocateFrom(INT, SOCKADDR_IN);
      if ((int) GETSOCKNAME.invokeExact(state, fd, addr, len) != 0) {
        throw failure("getsockname", state);
      }
      return portOf(addr);
    } catch (IOException e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("getsockname", t);
    }
  }

  /** Waits for a connection; its socket's descriptor (TCP_NODELAY set). */
  public static int accept(int listenFd) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      while (true) {
        int fd =
            (int)
                ACCEPT4.invokeExact(
                    state, listenFd, MemorySegment.NULL, MemorySegment.NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
          MemorySegment one = arena.allocateFrom(INT, 1);
          int ignored = (int) SETSOCKOPT.invokeExact(state, fd, IPPROTO_TCP, TCP_NODELAY, one, 4);
          return fd;
        }
        if (errno(state) != EINTR) {
          throw failure("accept", state);
        }
      }
    } catch (IOException e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("accept", t);
    }
  }

  /**
   * The port a connection was made to before netfilter redirected it to this listener (the
   * conntrack entry's original destination).
   */
  public static int originalPort(int fd) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      MemorySegment addr = arena.allocate(SOCKADDR_IN);
      MemorySegment len = arena.allocateFrom(INT, SOCKADDR_IN);
      if ((int) GETSOCKOPT.invokeExact(state, fd, SOL_IP, SO_ORIGINAL_DST, addr, len) != 0) {
        throw failure("getsockopt SO_ORIGINAL_DST", state);
      }
      return portOf(addr);
    } catch (IOException e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("getsockopt SO_ORIGINAL_DST", t);
    }
  }

  /** Reads up to {@code buf.length} bytes; -1 at EOF. */
  public static int read(int fd, byte[] buf) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      MemorySegment seg = arena.allocate(buf.length);
      while (true) {
        long n = (long) READ.invokeExact(state, fd, seg, (long) buf.length);
        if (n > 0) {
          MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, 0, buf, 0, (int) n);
          return (int) n;
        }
        if (n == 0) {
          return -1;
        }
        if (errno(state) != EINTR) {
          throw failure("read", state);
        }
      }
    } catch (IOException e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("read", t);
    }
  }

  /** Writes all of {@code buf[off, off+len)}. */
  public static void writeAll(int fd, byte[] buf, int off, int len) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      MemorySegment seg = arena.allocate(Math.max(len, 1));
      MemorySegment.copy(buf, off, seg, ValueLayout.JAVA_BYTE, 0, len);
      long done = 0;
      while (done < len) {
        long n = (long) WRITE.invokeExact(state, fd, seg.asSlice(done), len - done);
        if (n >= 0) {
          done += n;
        } else if (errno(state) != EINTR) {
          throw failure("write", state);
        }
      }
    } catch (IOException e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("write", t);
    }
  }

  /** shutdown(2), ignoring errors (a socket already shut down or reset). */
  public static void shutdown(int fd, int how) {
    try (Arena arena = Arena.ofConfined()) {
      int ignored = (int) SHUTDOWN.invokeExact(arena.allocate(CALL_STATE), fd, how);
    } catch (Throwable t) {
      // nothing to do
    }
  }

  /** close(2); call once, after every thread using {@code fd} is done with it. */
  public static void close(int fd) {
    try (Arena arena = Arena.ofConfined()) {
      int ignored = (int) CLOSE.invokeExact(arena.allocate(CALL_STATE), fd);
    } catch (Throwable t) {
      // nothing to do
    }
  }
}
