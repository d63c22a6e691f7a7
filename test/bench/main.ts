/**
 * `npm run bench`'s entry. Its in-process meshes stand for `nsm-rx mesh`, so the process takes
 * the CLI's V8 tier-up budget, set as the CLI sets it: before the code it is meant for loads.
 */
import { tierUpSooner } from '../../nodes/cli/tierUp.js';

tierUpSooner();
await import('./run.js');
