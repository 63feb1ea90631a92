/**
 * Class attributes, Python's way: a static default, overridden by subclasses, and an instance's
 * own value (option or assignment) over its class's. Attribute `name: T` is declared by a documented
 * `static name: T`, a `get`/`set` pair calling `this[kAttribute]("name"[, value])` (real accessors,
 * for `deno doc`), `name?: T` with `@default` in the options, and `name: check` (or `null`) in the
 * `declareAttributes()` call after the class.
 *
 * @module
 */

/** Throws when `value` is not a valid value of attribute `name`. */
export type Check = (name: string, value: unknown) => void;

type Checks = Readonly<Record<string, Check | null>>;

const declared = new WeakMap<object, Checks>();

/** Declares `Class`'s own attributes: each key a static and an instance accessor, each value its check. */
export function declareAttributes<C extends abstract new (...args: never[]) => object>(
  Class: C,
  checks: { readonly [K in keyof C & keyof InstanceType<C>]?: Check | null },
): void {
  declared.set(Class, checks as Checks);
}

/** Runs the check of `name` declared by `Class` or its nearest ancestor; undeclared: unchecked. */
export function checkAttribute(Class: object, name: string, value: unknown): void {
  for (let C: object | null = Class; C !== null; C = Object.getPrototypeOf(C)) {
    const checks = declared.get(C);
    if (checks !== undefined && Object.hasOwn(checks, name)) return checks[name]?.(name, value);
  }
}

/** Checks the options of a constructor that set attributes of `Class`. */
export function checkOptions(Class: object, options: object): void {
  for (const name in options) {
    checkAttribute(Class, name, (options as Record<string, unknown>)[name]);
  }
}

/** An instance's attribute values: its own (options, assignments), else its class's static. */
export class AttributeValues {
  #own: Record<string, unknown>;
  #Class: Record<string, unknown>;

  /** Takes `options` as the instance's own values, after checking them. */
  constructor(Class: object, options: object) {
    checkOptions(Class, options);
    this.#Class = Class as Record<string, unknown>;
    this.#own = { ...options };
  }

  /** The value of attribute `name`. */
  get(name: string): unknown {
    const own = this.#own[name];
    return own !== undefined ? own : this.#Class[name];
  }

  /** `maxConnections`, read per request. A read named in the code, not `get(name)`'s: one keyed
   * read of every attribute's name is megamorphic, a lookup in V8's stub cache each time. */
  get maxConnections(): unknown {
    const own = this.#own.maxConnections;
    return own !== undefined ? own : this.#Class.maxConnections;
  }

  /** `maxPacketSize`, read per datagram; see `maxConnections`. */
  get maxPacketSize(): unknown {
    const own = this.#own.maxPacketSize;
    return own !== undefined ? own : this.#Class.maxPacketSize;
  }

  /** Checks `value` and makes it the instance's own. */
  set(name: string, value: unknown): void {
    checkAttribute(this.#Class, name, value);
    this.#own[name] = value;
  }
}
