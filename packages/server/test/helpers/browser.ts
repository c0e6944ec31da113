import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'

/** Debian's chromium (`.ci/needs/chromium.sh` installs it); playwright-core never downloads a browser. */
export const chromiumPath = '/usr/bin/chromium'

/**
 * Launches headless chromium. A missing browser fails the test file with a clear message rather
 * than skipping it: CI installs chromium, so a skip would only hide a broken install.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `${chromiumPath} is missing: the dashboard's browser tests need Debian's chromium (bash .ci/needs/chromium.sh, or apt-get install chromium)`,
    )
  }
  // Chromium's sandbox refuses to run as root, which CI and these machines are.
  return chromium.launch({ executablePath: chromiumPath, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] })
}
