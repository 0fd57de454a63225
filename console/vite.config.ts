// Builds the console's web app (console/web) into console/dist, which console/server serves.
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL("./web", import.meta.url)),
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL("./dist", import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 2048,
    sourcemap: false,
  },
  // `vite` in console/ serves the app with /k8s and /console proxied to a running console server
  server: { proxy: { "/k8s": "http://127.0.0.1:8090", "/console": "http://127.0.0.1:8090" } },
});
