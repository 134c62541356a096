/**
 * The KataConfig API, {@code kataoperator.dev/v1alpha1}: the CRD types (the CRD YAML in {@code
 * crds/} is generated from them) and the installer contract ({@link InstallerContract}), the only
 * interface between the operator and the runtime-node-installer.
 */
package dev.kataoperator.operator.api.v1alpha1;
