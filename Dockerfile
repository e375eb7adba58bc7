# syntax=docker/dockerfile:1
# Two images from one file:
#   docker build --target api -t imagetune-api .          API (and a CPU worker when EMBEDDED_WORKER=true), slim Node
#   docker build --target worker-gpu -t imagetune-gpu .   training worker on CUDA 11.2 + cuDNN 8.1 for tfjs-node-gpu 4.x

ARG NODE_IMAGE=node:20-bookworm-slim

# --- dependencies without the native TensorFlow bindings (wasm backend) ---
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund

# --- API image: Fastify + predictions on the wasm backend ---
FROM ${NODE_IMAGE} AS api
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 DATA_DIR=/data EMBEDDED_WORKER=false
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY ui ./ui
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "src/main.ts"]

# --- CPU worker: same image, worker entry ---
FROM api AS worker-cpu
CMD ["node", "--import", "tsx", "workers/train-worker.ts"]

# --- GPU worker: tfjs-node-gpu 4.x links libtensorflow 2.9, built for CUDA 11.2 and cuDNN 8.1 ---
FROM nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04 AS worker-gpu
COPY --from=node:20-bookworm-slim /usr/local/bin/node /usr/local/bin/node
COPY --from=node:20-bookworm-slim /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && apt-get update && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production DATA_DIR=/data IMAGETUNE_BACKEND=tensorflow WORKER_CONCURRENCY=1
WORKDIR /app
COPY package.json package-lock.json ./
# Installs @tensorflow/tfjs-node-gpu (an optional dependency) and lets its script fetch the GPU libtensorflow.
RUN npm ci --omit=dev --no-audit --no-fund --foreground-scripts \
 && node -e "require('@tensorflow/tfjs-node-gpu')"
COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY ui ./ui
RUN mkdir -p /data
CMD ["node", "--import", "tsx", "workers/train-worker.ts"]
