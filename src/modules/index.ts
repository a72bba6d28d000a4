export { packageModule } from './package.js';
export { fileModule } from './file.js';
export { templateModule } from './template.js';
export { serviceModule } from './service.js';
export { commandModule } from './command.js';
export { sysctlModule } from './sysctl.js';
export { waitForModule } from './wait-for.js';
export { appliedModule } from './applied.js';
