import { AppError } from '../errors.js'
import { checkedAddress, type AddressCheck } from './ssrf-guard.js'

/**
 * Refuses a job's webhook URL up front when its host resolves to a loopback, private, link-local or metadata
 * address (403 URL_FORBIDDEN) or does not resolve (400): the service would otherwise POST into its own network.
 * The worker checks again when it delivers, since DNS can change in between.
 */
export async function checkWebhookUrl(url: string, check: AddressCheck): Promise<void> {
  try {
    await checkedAddress(new URL(url).hostname, check)
  } catch (err) {
    if (err instanceof AppError && err.code === 'IMAGE_FETCH_FAILED') throw new AppError('VALIDATION', `webhook URL: ${err.message}`)
    throw err
  }
}
