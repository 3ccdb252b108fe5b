/**
 * Points the Vulkan loader at the software driver that scripts/webgpu-driver.sh unpacks into .webgpu/, unless
 * VK_ICD_FILENAMES is already set. The loader reads the variable from the real process environment, so this
 * runs where that environment is still ours: in jest.config.js (before test processes start) and in the
 * benchmark's entry point.
 */
const fs = require('fs');
const path = require('path');

function applyWebGPUEnv() {
  const icd = path.join(__dirname, '..', '.webgpu', 'lvp_icd.json');
  if (process.env.VK_ICD_FILENAMES == null && fs.existsSync(icd)) {
    process.env.VK_ICD_FILENAMES = icd;
  }
}

module.exports = {applyWebGPUEnv};
