// Loads every module the manager can load, and exits: run with $NODE_COMPILE_CACHE set, it fills
// Node's compile cache with them. The image runs it once when it is built (for its architecture and
// its uid, both part of the cache's key), so a manager pod that restarts or takes over compiles none
// of them again; its root filesystem is read-only, so it only reads the cache.
import { flushCompileCache, getCompileCacheDir } from "node:module";
import { loadProducts } from "./registry.ts";

if (!getCompileCacheDir()) {
  console.error("warm-compile-cache: the compile cache is off (set NODE_COMPILE_CACHE)");
  process.exit(1);
}
await Promise.all([
  import("@kubernetes/client-node"), import("./runtime/log.ts"), import("./runtime/manager.ts"), import("./runtime/webhook.ts"),
  loadProducts(),
  // what the products load at first use
  import("./messaging/kafka-admin.ts").then((m) => m.kafkaLib()),
]);
flushCompileCache();
console.log(`warm-compile-cache: ${getCompileCacheDir()}`);
