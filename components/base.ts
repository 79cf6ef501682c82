/**
 * Shared base for launchgate components: every child resource is parented to the component and
 * depends on the release gate, so a refused gate stops every change (DESIGN §4 "Gates must stop
 * changes before they happen").
 */
import * as pulumi from "@pulumi/pulumi";

export interface LaunchgateComponentOptions extends pulumi.ComponentResourceOptions {
  /** The release-gate resource every child must wait for; absent only in unit tests. */
  readonly gate?: pulumi.Resource;
}

export abstract class LaunchgateComponent extends pulumi.ComponentResource {
  private readonly gateDeps: pulumi.Resource[];

  constructor(type: string, name: string, opts?: LaunchgateComponentOptions) {
    super(type, name, {}, opts);
    this.gateDeps = opts?.gate ? [opts.gate] : [];
  }

  /**
   * Options for a child: parented here, depending on the gate plus `extra.dependsOn`.
   * Use for every child so no resource can change before the gate is evaluated.
   */
  protected child(extra: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions {
    const own = extra.dependsOn === undefined ? [] : Array.isArray(extra.dependsOn) ? extra.dependsOn : [extra.dependsOn];
    return { ...extra, parent: this, dependsOn: [...this.gateDeps, ...(own as pulumi.Input<pulumi.Resource>[])] };
  }
}
