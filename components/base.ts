/**
 * Shared base for launchgate components: every child resource is parented to the component and
 * depends on the release gate, so a refused gate stops every change.
 */
import * as pulumi from "@pulumi/pulumi";

export interface LaunchgateComponentOptions extends pulumi.ComponentResourceOptions {
  /** The release-gate resource every child must wait for; absent only in unit tests. */
  readonly gate?: pulumi.Resource;
}

/** `dependsOn` in any of the shapes Pulumi accepts, as a list. */
function dependsOnList(d: pulumi.ResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] {
  if (d === undefined) return [];
  return Array.isArray(d) ? (d as pulumi.Input<pulumi.Resource>[]) : [d as pulumi.Input<pulumi.Resource>];
}

export abstract class LaunchgateComponent extends pulumi.ComponentResource {
  /** The gate plus the component's own `dependsOn`, which Pulumi does not pass to children. */
  private readonly inheritedDeps: pulumi.Input<pulumi.Resource>[];

  constructor(type: string, name: string, opts?: LaunchgateComponentOptions) {
    super(type, name, {}, opts);
    this.inheritedDeps = [...(opts?.gate ? [opts.gate] : []), ...dependsOnList(opts?.dependsOn)];
  }

  /**
   * Options for a child: parented here, depending on the gate and the component's own
   * `dependsOn`, plus `extra.dependsOn`. Use for every child so no resource can change before
   * the gate is evaluated (and before what the component was told to wait for).
   */
  protected child(extra: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions {
    return { ...extra, parent: this, dependsOn: [...this.inheritedDeps, ...dependsOnList(extra.dependsOn)] };
  }
}
