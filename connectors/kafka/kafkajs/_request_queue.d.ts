// The part of kafkajs 2.2.4's untyped request queue that `_kafkajs_patches.ts` replaces.
declare class RequestQueue {
  throttledUntil: number;
  throttleCheckTimeoutId: unknown;
  pending: unknown[];
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}
export default RequestQueue;
