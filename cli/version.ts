/**
 * The version `rivulet --version` prints. Bumped by hand with each release.
 *
 * @module
 */

/** rivulet's version (semver). */
export const VERSION = "0.1.0";
