// Builds the dashboard into panels/static/panels/dist, served by the hub itself at
// /static/panels/dist/ (panels.views.asset). File names carry content hashes; the page finds the
// entry through Vite's manifest (panels.views.bundle).
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

export default defineConfig({
  base: "/static/panels/dist/",
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL("../static/panels/dist", import.meta.url)),
    emptyOutDir: true,
    manifest: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 800,
    rollupOptions: {
      input: fileURLToPath(new URL("src/main.ts", import.meta.url)),
    },
  },
});
