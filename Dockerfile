# syntax=docker/dockerfile:1.7
# rungate: build on full Debian node:20 (better-sqlite3 compiles there), run on slim.

FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
# prepare builds from src, which is not here yet: install without scripts, then rebuild the native addon.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    RUNGATE_HOST=0.0.0.0 \
    RUNGATE_PORT=8080 \
    RUNGATE_STORE=sqlite:/data/rungate.db
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.RUNGATE_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM reaches node directly (exec form), so shutdown is graceful.
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["serve"]
