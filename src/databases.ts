/**
 * The database connections a registry's built-in actions share.
 *
 * @module
 */

/** Database connections by URL, closed together. */
export class Databases {
  /** Closes every open connection. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
