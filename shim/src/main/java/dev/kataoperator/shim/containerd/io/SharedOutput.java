package dev.kataoperator.shim.containerd.io;

import java.io.IOException;
import java.io.OutputStream;

/** stdout and stderr sharing one file: whole writes do not interleave, closing is shared. */
final class SharedOutput extends OutputStream {
  private final OutputStream out;

  SharedOutput(OutputStream out) {
    this.out = out;
  }

  @Override
  public synchronized void write(int b) throws IOException {
    out.write(b);
  }

  @Override
  public synchronized void write(byte[] b, int off, int len) throws IOException {
    out.write(b, off, len);
  }

  @Override
  public void close() {
    // closed by the ProcessIo, once for both streams
  }
}
