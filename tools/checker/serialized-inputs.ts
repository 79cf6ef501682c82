/**
 * Each recorded registration's inputs as the SDK serialized them (a `google.protobuf.Struct`),
 * set by ./record and read by ./pack-server, which sends that message as is instead of rebuilding
 * it from `RecordedResource.inputs` (one conversion less per resource and request). Weak, and
 * only for records the recorder made: records built elsewhere (tests) are converted from `inputs`.
 */
import type { Struct } from "google-protobuf/google/protobuf/struct_pb";

export const serializedInputs = new WeakMap<object, Struct>();
