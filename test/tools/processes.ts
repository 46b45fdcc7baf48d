/** Finding the processes a test world started, so that it can end every one of them: the product's own readers. */
export { groupAlive, processesWithEnv } from '../../src/core/platform/processes';
