# syntax=docker/dockerfile:1
#
# Cairn node image.
#   docker build -t cairn .
#   docker run -p 7700:7700 -p 9464:9464 -v cairn-data:/var/lib/cairn cairn
#
# Two stages on the same base image:
#   build   - full `npm ci` (dev dependencies included) and `tsc`, producing dist/;
#   runtime - production dependencies only, the compiled dist/src, bin/ and
#             proto/, running as an unprivileged user (uid/gid 10001).
#
# The only native dependency, classic-level (LevelDB, via level), ships
# prebuilt N-API binaries inside its npm package (prebuilds/linux-x64 and
# prebuilds/linux-arm64, glibc >= 2.28 and libstdc++, both present in
# bookworm-slim). node-gyp-build picks the matching one at run time, so the
# runtime install can skip lifecycle scripts (`--ignore-scripts`); that also
# skips our own `prepare` (tsc), which is not installed there.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------- build ----
FROM ${NODE_IMAGE} AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /src

# Dependencies first, so this layer is reused while only sources change.
# Scripts are skipped here too: `prepare` would compile before the sources
# are copied; we compile explicitly below.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund

# Sources (see .dockerignore: node_modules, dist, data, ... stay out).
COPY . .
RUN npm run build

# -------------------------------------------------------------- runtime ----
FROM ${NODE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="cairn" \
      org.opencontainers.image.description="Tamper-evident audit ledger node" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false

WORKDIR /app

# git: sync targets read desired state with the git CLI (src/sync/git-desired.ts),
# and fetch remote repositories over HTTPS (ca-certificates).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Production dependencies only, exactly as locked.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# Application files stay owned by root: the node cannot modify its own code.
COPY --from=build /src/dist/src ./dist/src
# The auditor's console (docs/console.md), served at /console/.
COPY --from=build /src/dist/console ./dist/console
COPY --from=build /src/bin ./bin
COPY --from=build /src/proto ./proto

# Unprivileged user and its data directory. The ownership must be set before
# the VOLUME instruction so that a new named volume inherits it.
RUN groupadd --system --gid 10001 cairn \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/cairn --shell /usr/sbin/nologin cairn \
 && mkdir -p /var/lib/cairn \
 && chown 10001:10001 /var/lib/cairn \
 && chmod 0700 /var/lib/cairn

# Loopback, like every node without TLS and a policy (it refuses a wider
# address without them). To serve other containers, mount the TLS and policy
# files and set CAIRN_LISTEN=0.0.0.0:7700, CAIRN_TLS_CERT_FILE,
# CAIRN_TLS_KEY_FILE and CAIRN_POLICY_FILE (CAIRN_HTTP_LISTEN=0.0.0.0:7701 for the
# HTTP JSON API, under the same rule).
ENV CAIRN_DATA_DIR=/var/lib/cairn

VOLUME ["/var/lib/cairn"]
EXPOSE 7700 7701 9464

# Numeric so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

# No curl in slim images: ask the metrics/health HTTP endpoint with node's
# own fetch. Assumes the metrics endpoint stays on port 9464 (the default
# set above); if it is moved or disabled, override or disable this check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:9464/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# node is PID 1; `cairn serve` handles SIGTERM/SIGINT itself and shuts down
# cleanly (gRPC drain, LevelDB close).
STOPSIGNAL SIGTERM
# --max-semi-space-size=32: see docs/operations.md (full GCs under hostile load).
ENTRYPOINT ["node", "--max-semi-space-size=32", "/app/bin/cairn.js"]
CMD ["serve"]
