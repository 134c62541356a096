/**
 * The KataConfig API, {@code kataoperator.dev/v1alpha1}: the CRD types (the CRD YAML in {@code
 * crds/} is generated from them). Their enums and the installer contract, the only interface
 * between the operator and the runtime-node-installer, come from the contract module ({@link
 * dev.kataoperator.contract}).
 */
package dev.kataoperator.operator.api.v1alpha1;
