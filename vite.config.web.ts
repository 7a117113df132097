import { defineConfig } from 'vite';

// The dashboard: built into dist/web and served by the fleetvault server, same origin.
export default defineConfig({
  root: 'web',
  base: '/',
  build: { outDir: '../dist/web', emptyOutDir: true, assetsDir: 'assets', sourcemap: false },
  logLevel: 'warn',
});
