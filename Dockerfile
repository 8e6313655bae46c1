# syntax=docker/dockerfile:1.7
# rungate: build on full Debian node:20 (better-sqlite3 compiles there), run on slim.

FROM node:20-bookworm AS build
WORKDIR /app
# The client is an npm workspace: its package.json must be there for `npm ci` to link it.
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
# prepare builds from src, which is not here yet: install without scripts, then rebuild the native addon.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY packages/client/tsconfig.json ./packages/client/
COPY packages/client/src ./packages/client/src
COPY src ./src
COPY scripts/build-dashboard.js ./scripts/
# Builds the client package first (the gateway imports it), then the gateway and the dashboard's script.
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim AS runtime
# One V8 helper thread, as `npm start` runs it: V8's default four helpers, on a small machine,
# take the cores the event loop needs during each full collection (README, Configuration).
# Overridable; keep the flag when setting NODE_OPTIONS for something else.
ENV NODE_OPTIONS=--v8-pool-size=1 \
    NODE_ENV=production \
    RUNGATE_HOST=0.0.0.0 \
    RUNGATE_PORT=8080 \
    RUNGATE_STORE=sqlite:/data/rungate.db
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# node_modules/@rungate/client is a link to the workspace: its manifest and build come along.
COPY --from=build --chown=node:node /app/packages/client/package.json ./packages/client/
COPY --from=build --chown=node:node /app/packages/client/dist ./packages/client/dist
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.RUNGATE_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM reaches node directly (exec form), so shutdown is graceful.
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve"]
