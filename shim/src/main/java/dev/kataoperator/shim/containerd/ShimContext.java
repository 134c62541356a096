package dev.kataoperator.shim.containerd;

import java.nio.file.Path;

/**
 * What a shim process knows about itself.
 *
 * @param id the container id containerd started this shim for (for the server: the first one, the
 *     pod's sandbox container under CRI)
 * @param groupId the id the socket is named after: the pod's sandbox id under CRI, else {@code id}
 * @param bundle the container's OCI bundle directory
 * @param containerdAddress containerd's gRPC socket (-address)
 * @param ttrpcAddress containerd's ttrpc socket (TTRPC_ADDRESS), where events go
 */
public record ShimContext(
    String namespace,
    String id,
    String groupId,
    Path bundle,
    String containerdAddress,
    String ttrpcAddress,
    boolean debug) {}
