package dev.kataoperator.installer.containerd;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * Where Kata's runtime handlers are registered: containerd's own config ({@link ContainerdConfig})
 * or, for k3s and rke2, the template they render it from ({@link ContainerdTemplate}). Every method
 * decides before it writes: an exception means no file was changed.
 */
public interface HandlerConfig {

  /** The file the installer edits (a host path). */
  Path mainConfig();

  /** Registers exactly {@code handlers}; the next start of containerd picks them up. */
  ContainerdConfig.Outcome install(ContainerdVersion containerd, List<RuntimeHandler> handlers)
      throws ContainerdConfigException;

  /** Removes what install added, byte for byte. */
  ContainerdConfig.Outcome uninstall() throws ContainerdConfigException;

  /** The handler names install registered and that are still there. */
  Set<String> installedHandlers() throws ContainerdConfigException;

  /** The files as they are now, to put back on rollback. */
  ConfigSnapshot snapshot() throws ContainerdConfigException;

  /** Puts the files back as {@code snapshot} saw them. */
  void restore(ConfigSnapshot snapshot) throws ContainerdConfigException;
}
