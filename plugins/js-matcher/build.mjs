// Builds js_matcher.wasm with componentize-js's API (the `jco componentize` 1.35 command line fails on Node.js 20
// reading the WIT inside its WASI sandbox). No WASI features are needed: the host denies them all anyway.
import { componentize } from "@bytecodealliance/componentize-js";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";

const out = resolve(process.argv[2] ?? "js_matcher.wasm");
const { component } = await componentize({
  sourcePath: "app.js",
  witPath: "../../plugin-sdk/wit",
  worldName: "matcher",
  disableFeatures: ["random", "clocks", "http", "stdio", "fetch-event"],
});
await mkdir(dirname(out), { recursive: true });
await writeFile(out, component);
