// The loader's intermediate shape, shared by every format: groups and hosts as the files declare
// them, each with its blocks of variables (checked when recorded) and the key path each came
// from. The YAML walk (load.ts), the INI walk (ini.ts) and the var files (files.ts) fill it; the
// loader then merges it by precedence. Types only, plus the methods the loader provides.
import type { YMap } from './yaml.js';

export type Fail = (p: readonly string[], m: string) => Error;

export interface VarBlock {
  path: string[];
  vars: YMap;
  /** a secret read from `<key>_file`: key -> the key as written, for file:line in messages */
  written?: Record<string, string>;
}

export interface GroupRec {
  name: string;
  order: number;
  path: string[];
  parents: string[];
  /** vars written in the inventory file */
  blocks: VarBlock[];
  /** vars from group_vars/ files, in the order read */
  fileBlocks: VarBlock[];
  /** ansible_group_priority: orders groups of the same depth before their names do */
  priority: number;
}

export interface HostRec {
  name: string;
  order: number;
  path: string[];
  direct: string[];
  blocks: VarBlock[];
  /** vars from host_vars/ files */
  fileBlocks: VarBlock[];
}

/** What the walk over the groups collects, in document order, and how it records more. */
export interface Walk {
  fail: Fail;
  env: Readonly<Record<string, string | undefined>>;
  baseDir: string;
  groups: Map<string, GroupRec>;
  hosts: Map<string, HostRec>;
  secrets: Set<string>;
  /** -e/--extra-vars, in order: they win over every group and host variable */
  extra: VarBlock[];
  /** the next document-order number, shared by groups and hosts */
  order: number;
  warnings: string[];
  /** the group of that name (checked, created at `p` the first time) */
  group(name: string, p: string[]): GroupRec;
  /** the host of that name (checked, created at `p` the first time), a direct member of `group` */
  host(name: string, p: string[], group: string): HostRec;
  /** a block of variables, each checked where it is written (`onHost`: cluster-wide settings are refused) */
  block(vars: YMap, p: string[], onHost: boolean): VarBlock;
  /** a group's own vars from the inventory file */
  groupVars(g: GroupRec, block: VarBlock): void;
  /** is `name` kha's own (a setting; with `onHost`, a connection variable too)? Var files of unknown groups and hosts are checked with it */
  readsKha(name: string, onHost: boolean): boolean;
}
