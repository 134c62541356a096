package dev.kataoperator.shim.host;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * The libc calls the containerd side needs and the JDK lacks, through the FFM API. Needs the JVM
 * flag {@code --enable-native-access=ALL-UNNAMED} (without it the JDK prints a warning).
 */
public final class Native {
  private static final Linker LINKER = Linker.nativeLinker();
  private static final MethodHandle SETSID =
      LINKER.downcallHandle(
          LINKER.defaultLookup().find("setsid").orElseThrow(),
          FunctionDescriptor.of(ValueLayout.JAVA_INT));
  private static final MethodHandle MKFIFO =
      LINKER.downcallHandle(
          LINKER.defaultLookup().find("mkfifo").orElseThrow(),
          FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT),
          Linker.Option.captureCallState("errno"));
  private static final MethodHandle OPEN =
      LINKER.downcallHandle(
          LINKER.defaultLookup().find("open").orElseThrow(),
          FunctionDescriptor.of(
              ValueLayout.JAVA_INT,
              ValueLayout.ADDRESS,
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT),
          Linker.Option.firstVariadicArg(2));
  private static final MethodHandle IOCTL =
      LINKER.downcallHandle(
          LINKER.defaultLookup().find("ioctl").orElseThrow(),
          FunctionDescriptor.of(
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_INT,
              ValueLayout.JAVA_LONG,
              ValueLayout.ADDRESS),
          Linker.Option.firstVariadicArg(2));
  private static final MethodHandle CLOSE =
      LINKER.downcallHandle(
          LINKER.defaultLookup().find("close").orElseThrow(),
          FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
  private static final MethodHandle DUP2 =
      LINKER.downcallHandle(
          LINKER.defaultLookup().find("dup2").orElseThrow(),
          FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
  // syscall(2): mount_setattr has a libc wrapper only from glibc 2.36, older than some nodes' libc.
  private static final MethodHandle SYSCALL =
      LINKER.downcallHandle(
          LINKER.defaultLookup().find("syscall").orElseThrow(),
          FunctionDescriptor.of(
              ValueLayout.JAVA_LONG,
              ValueLayout.JAVA_LONG,
              ValueLayout.JAVA_LONG,
              ValueLayout.ADDRESS,
              ValueLayout.JAVA_LONG,
              ValueLayout.ADDRESS,
              ValueLayout.JAVA_LONG),
          Linker.Option.firstVariadicArg(1),
          Linker.Option.captureCallState("errno"));
  private static final java.lang.foreign.StructLayout CALL_STATE =
      Linker.Option.captureStateLayout();

  private static final int O_WRONLY = 01;
  private static final int O_RDWR = 02;
  private static final int O_NONBLOCK = 04000;
  private static final int O_CLOEXEC = 02000000;
  private static final long FIONREAD = 0x541B;
  // The same number on every architecture (the unified table of new system calls, Linux 5.12).
  private static final long SYS_MOUNT_SETATTR = 442;
  private static final long AT_FDCWD = -100;
  private static final long AT_RECURSIVE = 0x8000;
  private static final long AT_SYMLINK_NOFOLLOW = 0x100;
  private static final long MOUNT_ATTR_RDONLY = 0x1;
  private static final long MOUNT_ATTR_NOSUID = 0x2;
  private static final long MOUNT_ATTR_NODEV = 0x4;
  private static final int ENOSYS = 38;

  private Native() {}

  /** setsid(2): a new session and process group, detached from the caller's. */
  public static boolean setsid() {
    try {
      return (int) SETSID.invokeExact() >= 0;
    } catch (Throwable t) {
      return false;
    }
  }

  /** The errno a call with {@code captureCallState("errno")} left in {@code state}. */
  private static int errno(MemorySegment state) {
    return state.get(
        ValueLayout.JAVA_INT,
        CALL_STATE.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement("errno")));
  }

  /** mkfifo(3). */
  public static void mkfifo(Path path, int mode) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      MemorySegment cpath = arena.allocateFrom(path.toString());
      int rc = (int) MKFIFO.invokeExact(state, cpath, mode);
      if (rc != 0) {
        throw new IOException("mkfifo " + path + ": errno " + errno(state));
      }
    } catch (IOException e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("mkfifo " + path, t);
    }
  }

  /**
   * How many bytes written to the FIFO at {@code fifo} its reader has not read yet, or -1 when it
   * has no reader (or is gone). A non-blocking write-only open never waits and, with a reader
   * there, reaches the same pipe, whose FIONREAD counts what is buffered.
   */
  public static int unreadBytes(Path fifo) {
    try (Arena arena = Arena.ofConfined()) {
      int fd =
          (int)
              OPEN.invokeExact(
                  arena.allocateFrom(fifo.toString()), O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0);
      if (fd < 0) {
        return -1; // ENXIO: nobody reads; ENOENT: gone
      }
      try {
        MemorySegment n = arena.allocate(ValueLayout.JAVA_INT);
        int rc = (int) IOCTL.invokeExact(fd, FIONREAD, n);
        return rc < 0 ? -1 : n.get(ValueLayout.JAVA_INT, 0);
      } finally {
        int ignored = (int) CLOSE.invokeExact(fd);
      }
    } catch (Throwable t) {
      return -1;
    }
  }

  /**
   * Points this process's stdin, stdout and stderr at /dev/null: a process that answered on pipes
   * its starter reads until their end (containerd's {@code start}) lets go of them.
   */
  public static void detachStdio() throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      int fd = (int) OPEN.invokeExact(arena.allocateFrom("/dev/null"), O_RDWR | O_CLOEXEC, 0);
      if (fd < 0) {
        throw new IOException("cannot open /dev/null");
      }
      for (int target = 0; target <= 2; target++) {
        // dup2 clears close-on-exec on the copy: children inherit /dev/null, as they should.
        if ((int) DUP2.invokeExact(fd, target) < 0) {
          throw new IOException("dup2 /dev/null to fd " + target + " failed");
        }
      }
      int ignored = (int) CLOSE.invokeExact(fd);
    } catch (IOException e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("detaching stdio", t);
    }
  }

  /**
   * Makes the mount at {@code mountPoint} and every mount below it nosuid and nodev, and read-only
   * if asked (mount_setattr(2) with AT_RECURSIVE, Linux 5.12+), which a remount cannot do: it
   * changes one mount only. The path itself is not followed if it is a symlink.
   *
   * @return false when the kernel has no mount_setattr (ENOSYS); the caller falls back
   */
  public static boolean restrictRecursively(Path mountPoint, boolean readOnly) throws IOException {
    try (Arena arena = Arena.ofConfined()) {
      MemorySegment state = arena.allocate(CALL_STATE);
      // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; }
      MemorySegment attr = arena.allocate(32, 8);
      attr.set(
          ValueLayout.JAVA_LONG,
          0,
          MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (readOnly ? MOUNT_ATTR_RDONLY : 0));
      long rc =
          (long)
              SYSCALL.invokeExact(
                  state,
                  SYS_MOUNT_SETATTR,
                  AT_FDCWD,
                  arena.allocateFrom(mountPoint.toString()),
                  AT_RECURSIVE | AT_SYMLINK_NOFOLLOW,
                  attr,
                  attr.byteSize());
      if (rc == 0) {
        return true;
      }
      int errno = errno(state);
      if (errno == ENOSYS) {
        return false;
      }
      throw new IOException(
          "mount_setattr(nosuid,nodev"
              + (readOnly ? ",ro" : "")
              + ", recursive) "
              + mountPoint
              + ": errno "
              + errno);
    } catch (IOException e) {
      throw e;
    } catch (Throwable t) {
      throw new IOException("mount_setattr " + mountPoint, t);
    }
  }
}
