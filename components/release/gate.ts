/**
 * The release gate's reach: a transformation that makes every custom resource declared after
 * it wait for the `release-gate` resource, plus whatever its component was told to wait for
 * (Pulumi does not pass a component's `dependsOn` to its children). Registered once for the
 * whole stack right after Release (`pulumi.runtime.registerStackTransformation`), so no
 * component has to remember it; the `every-resource-gated` policy and the checker's `gateFirst`
 * check verify the result.
 *
 * Components themselves get no edge (they have no lifecycle of their own); resources registered
 * before the transformation (Release and its children) are untouched.
 */
import * as pulumi from "@pulumi/pulumi";

/** `dependsOn` in any of the shapes Pulumi accepts, as a list. */
function dependsOnList(d: pulumi.ResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] {
  if (d === undefined) return [];
  return Array.isArray(d) ? (d as pulumi.Input<pulumi.Resource>[]) : [d as pulumi.Input<pulumi.Resource>];
}

/**
 * A transformation adding `gate` (and the parent component's own `dependsOn`, inherited down
 * nested components) to the `dependsOn` of every custom resource it sees. Use it as a stack
 * transformation, or in a component's `transformations` option (unit tests).
 */
export function gateEveryResource(gate: pulumi.Resource): pulumi.ResourceTransformation {
  // What each component's children must wait for: its own dependsOn plus its parent's.
  const inherited = new WeakMap<pulumi.Resource, pulumi.Input<pulumi.Resource>[]>();
  return (args) => {
    const own = dependsOnList(args.opts.dependsOn);
    const fromParent = (args.opts.parent && inherited.get(args.opts.parent)) || [];
    if (!(args.resource instanceof pulumi.CustomResource)) {
      inherited.set(args.resource, [...fromParent, ...own]);
      return undefined;
    }
    return { props: args.props, opts: { ...args.opts, dependsOn: [gate, ...fromParent, ...own] } };
  };
}
