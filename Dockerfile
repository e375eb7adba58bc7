# syntax=docker/dockerfile:1
# Three images from one file:
#   docker build --target api -t imagetune-api .          API (predictions on the wasm backend), slim Node
#   docker build --target worker-cpu -t imagetune-cpu .   training worker on the wasm backend, same base
#   docker build --target worker-gpu -t imagetune-gpu .   training worker on CUDA 11.2 + cuDNN 8.1 for tfjs-node-gpu 4.x
# Every image runs as uid 1000, so the API and the workers can share one DATA_DIR volume.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- production dependencies, without the native TensorFlow bindings ---
# sharp's and esbuild's prebuilt binaries are optional dependencies and must stay; install scripts are skipped so
# tfjs-node does not try to download libtensorflow, and the bindings are then removed (the API runs on wasm).
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
COPY package.json tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY bin ./bin
COPY ui ./ui
# `docker compose exec api imagetune jobs ls` talks to the API in the same container.
RUN ln -s /app/bin/imagetune.js /usr/local/bin/imagetune && mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "src/main.ts"]

# --- CPU worker: same image, worker entry; its health and metrics are on WORKER_METRICS_PORT ---
FROM api AS worker-cpu
ENV WORKER_METRICS_PORT=9464
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:'+process.env.WORKER_METRICS_PORT+'/metrics').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "workers/train-worker.ts"]

# --- GPU worker: tfjs-node-gpu 4.x links libtensorflow 2.9, built for CUDA 11.2 and cuDNN 8.1 ---
# The host needs an NVIDIA driver >= 460.32 and the NVIDIA Container Toolkit; the image brings CUDA and cuDNN.
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 AS worker-gpu
COPY --from=node:20-bookworm-slim /usr/local/bin/node /usr/local/bin/node
COPY --from=node:20-bookworm-slim /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && apt-get update && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --create-home imagetune
ENV NODE_ENV=production HOST=0.0.0.0 DATA_DIR=/data IMAGETUNE_BACKEND=tensorflow WORKER_CONCURRENCY=1 WORKER_METRICS_PORT=9464
WORKDIR /app
COPY package.json package-lock.json ./
# Installs @tensorflow/tfjs-node-gpu (an optional dependency) and lets its script fetch the GPU libtensorflow;
# the CPU binding is removed so the backend choice cannot fall back to it silently.
RUN npm ci --omit=dev --no-audit --no-fund --foreground-scripts \
 && rm -rf node_modules/@tensorflow/tfjs-node \
 && node -e "require('@tensorflow/tfjs-node-gpu')" \
 && apt-get purge -y make g++ && apt-get autoremove -y
COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY ui ./ui
RUN mkdir -p /data && chown imagetune:imagetune /data
USER imagetune
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:'+process.env.WORKER_METRICS_PORT+'/metrics').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "workers/train-worker.ts"]
