# syntax=docker/dockerfile:1
# Three images from one file:
#   docker build --target api -t imagetune-api .          API (predictions on the wasm backend), slim Node
#   docker build --target worker-cpu -t imagetune-cpu .   training worker on the wasm backend, same base
#   docker build --target worker-gpu -t imagetune-gpu .   training worker on CUDA 11.2 + cuDNN 8.1 for tfjs-node-gpu 4.x
# Every image runs as uid 1000, so the API and the workers can share one DATA_DIR volume.
# Every image runs the JavaScript that `tsc` built in the `build` stage (dist/): nothing compiles at run time.

ARG NODE_IMAGE=node:22-bookworm-slim

# --- compiled JavaScript: tsc (a dev dependency) builds src/ and workers/ into dist/ ---
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build

# --- production dependencies, without the native TensorFlow bindings ---
# sharp's prebuilt binaries are optional dependencies and must stay; install scripts are skipped so tfjs-node does
# not try to download libtensorflow (nor `prepare` try to build without tsc), and the bindings are then removed
# (the API runs on wasm).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@tensorflow/tfjs-node node_modules/@tensorflow/tfjs-node-gpu \
 && node -e "require('sharp')"

# --- API image: Fastify + predictions on the wasm backend ---
FROM ${NODE_IMAGE} AS api
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 DATA_DIR=/data EMBEDDED_WORKER=false IMAGETUNE_BACKEND=wasm
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY ui ./ui
# `docker compose exec api imagetune jobs ls` talks to the API in the same container.
RUN ln -s /app/bin/imagetune.js /usr/local/bin/imagetune && mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--enable-source-maps", "dist/src/main.js"]

# --- CPU worker: same image, worker entry; its health and metrics are on WORKER_METRICS_PORT ---
FROM api AS worker-cpu
ENV WORKER_METRICS_PORT=9464
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:'+process.env.WORKER_METRICS_PORT+'/metrics').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--enable-source-maps", "dist/workers/train-worker.js"]

# --- GPU worker: tfjs-node-gpu 4.x links libtensorflow 2.9, built for CUDA 11.2 and cuDNN 8.1 ---
# The host needs an NVIDIA driver >= 460.32 and the NVIDIA Container Toolkit; the image brings CUDA and cuDNN.
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 AS worker-gpu
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && apt-get update && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --create-home imagetune
ENV NODE_ENV=production HOST=0.0.0.0 DATA_DIR=/data IMAGETUNE_BACKEND=tensorflow WORKER_CONCURRENCY=1 WORKER_METRICS_PORT=9464
WORKDIR /app
COPY package.json package-lock.json ./
# Installs @tensorflow/tfjs-node-gpu (an optional dependency) and lets its script alone fetch the GPU libtensorflow
# (`prepare` would need tsc, a dev dependency: dist comes from the build stage); the CPU binding is removed so the
# backend choice cannot fall back to it silently.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild @tensorflow/tfjs-node-gpu --foreground-scripts \
 && rm -rf node_modules/@tensorflow/tfjs-node \
 && node -e "require('@tensorflow/tfjs-node-gpu')" \
 && apt-get purge -y make g++ && apt-get autoremove -y
COPY --from=build /app/dist ./dist
COPY ui ./ui
RUN mkdir -p /data && chown imagetune:imagetune /data
USER imagetune
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:'+process.env.WORKER_METRICS_PORT+'/metrics').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--enable-source-maps", "dist/workers/train-worker.js"]
