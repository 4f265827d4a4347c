export { main, USAGE } from './main.js';
export { deviceReport, formatDeviceReport } from './info.js';
export type { DeviceReport } from './info.js';
