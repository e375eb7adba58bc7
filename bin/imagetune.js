#!/usr/bin/env node
// The CLI runs the JavaScript that `npm run build` (run by `npm ci` through `prepare`) wrote to dist/.
await import('../dist/src/cli/main.js')
