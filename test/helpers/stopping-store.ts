import type { Store } from '../../src/store/index.ts';

/**
 * The real `store`, failing with "stopped here" when an erasure reaches `table`: a run stopped
 * between two tables (what a crash or a lost connection does), on the engine's own writes.
 */
export function stoppingAt(store: Store, table: string): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'erase')
        return async (name: string, ...rest: [string, readonly string[]]) => {
          if (name === table) throw new Error('stopped here');
          return target.erase(name, ...rest);
        };
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Store;
}
