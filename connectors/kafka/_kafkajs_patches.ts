/**
 * Stops kafkajs 2.2.4 from printing "TimeoutNegativeWarning: -1795586848468 is
 * a negative number" under Deno. Its request queue schedules a pending-request
 * check at `throttledUntil - Date.now()`, and `throttledUntil` starts at -1, so
 * the delay is minus the current epoch time whenever the broker is not
 * throttling. Node clamps the delay to 1 ms and Deno warns while doing so. This
 * replaces that one method with the same logic and the delay clamped at 0.
 * Imported for its side effect by `kafkajs.ts` only.
 *
 * @module
 */
// @ts-types="./_kafkajs_request_queue.d.ts"
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
import { setTimeout } from "node:timers";

// kafkajs' CHECK_PENDING_REQUESTS_INTERVAL: how soon queued requests are retried.
const checkPendingRequestsIntervalMs = 10;

RequestQueue.prototype.scheduleCheckPendingRequests = function () {
  if (this.throttleCheckTimeoutId) return;
  const throttledForMs = this.throttledUntil - Date.now();
  const delayMs = this.pending.length > 0 && throttledForMs <= 0
    ? checkPendingRequestsIntervalMs
    : Math.max(0, throttledForMs);
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, delayMs);
};
