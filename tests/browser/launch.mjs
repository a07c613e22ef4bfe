// Debian's Chromium, headless, with a fake camera playing VIDEO (a y4m file) and the camera
// permission granted: what every browser script of the tests starts from.
import { chromium } from 'playwright-core';

export function launch(video) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${video}`,
    ],
  });
}
