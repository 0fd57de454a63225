# syntax=docker/dockerfile:1
# The CellCloud manager image, for linux/amd64 and linux/arm64 (the project runs on both
# architectures it simulates). It also runs the web console (`node dist/console/server/main.js`,
# the chart's console Deployment), with the console's web app built in:
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/cellcloud/manager:0.1.0 .

# Compile TypeScript once, on the build machine's own architecture (the output is plain JS).
FROM --platform=$BUILDPLATFORM node:24-alpine AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY operators ./operators
COPY console ./console
RUN npx tsc -p tsconfig.build.json && npx vite build --config console/vite.config.ts --outDir /src/dist/console/dist

# Production dependencies for the target architecture.
FROM node:24-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error && npm cache clean --force

FROM node:24-alpine
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
RUN mkdir .node-compile-cache && chown 1000:1000 .node-compile-cache
# The image's unprivileged "node" user (uid 1000), as the chart's securityContext expects.
USER 1000:1000
# V8's code cache of every module the manager can load, made here for this architecture and uid (both
# part of its key): a restarted or failed-over manager compiles none of them again, only reads them.
ENV NODE_COMPILE_CACHE=/app/.node-compile-cache
RUN node dist/operators/warm-compile-cache.js
EXPOSE 8080 8081
ENTRYPOINT ["node", "dist/operators/main.js"]
