# bash completion for kha: commands, flags, paths, flag choices, and host names from the
# inventory given by -i. Enable it in ~/.bashrc:  eval "$(kha completion bash)"
_kha_words() { local IFS=$' \t\n'; COMPREPLY=($(compgen -W "$1" -- "$cur")); }
_kha_files() { compopt -o filenames 2>/dev/null; local IFS=$'\n'; COMPREPLY=($(compgen -f -- "$cur")); }
_kha_hosts() {
  local inv=$1
  [[ -n $inv ]] || return 0
  [[ $inv == "~/"* ]] && inv=$HOME/${inv#"~/"}
  command kha completion --hosts-of "$inv" ${2-} 2>/dev/null
}
# how many arguments precede the cursor; $1: the flags that take a value
_kha_nargs() {
  local i n=0
  for ((i = start; i < COMP_CWORD; i++)); do
    if [[ ${COMP_WORDS[i+1]} == '=' ]]; then i=$((i + 2))
    elif [[ ${COMP_WORDS[i]} == -* ]]; then [[ " $1 " == *" ${COMP_WORDS[i]} "* ]] && i=$((i + 1))
    else n=$((n + 1)); fi
  done
  echo $n
}
_kha() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= inv= start=1 i w
  COMPREPLY=()
  # bash splits --flag=value at '=' into three words
  if [[ $cur == '=' ]]; then cur=; elif [[ $prev == '=' ]]; then prev=${COMP_WORDS[COMP_CWORD-2]}; fi
  # the command: the first words, as long as they name a command or a topic (lab up)
  while ((start < COMP_CWORD)); do
    w=${COMP_WORDS[start]}
    case ${cmd:+$cmd:}$w in
      add-master | completion | drain | help | init | lab | lab:down | lab:up | play | remove-master | render | up | upgrade) cmd=${cmd:+$cmd:}$w; start=$((start + 1)) ;;
      *) break ;;
    esac
  done
  for ((i = start; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      -i | --inventory) inv=${COMP_WORDS[i+1]}; [[ $inv == '=' ]] && inv=${COMP_WORDS[i+2]} ;;
    esac
  done
  case $cmd in
    '') if [[ $cur == -* ]]; then _kha_words '--help --version'; else _kha_words 'add-master completion drain help init lab play remove-master render up upgrade'; fi ;;
    'add-master')
      case $prev in
        --host | --name) :; return ;;
        -i | --inventory) _kha_files; return ;;
      esac
      _kha_words '--host --inventory -i --name --help'
      ;;
    'completion')
      if [[ $cur != -* ]] && (($(_kha_nargs '') == 0)); then _kha_words 'bash zsh'; return; fi
      _kha_words '--help'
      ;;
    'drain')
      case $prev in
        -i | --inventory) _kha_files; return ;;
        --timeout) :; return ;;
      esac
      if [[ $cur != -* ]] && (($(_kha_nargs '-i --inventory --timeout') == 0)); then _kha_words "$(_kha_hosts "$inv")"; return; fi
      _kha_words '--inventory -i --shutdown-sessions --timeout --help'
      ;;
    'help')
      if [[ $cur != -* ]] && (($(_kha_nargs '') == 0)); then _kha_words 'add-master completion drain help init lab play remove-master render up upgrade'; return; fi
      _kha_words '--help'
      ;;
    'init')
      case $prev in
        --master) :; return ;;
        -o | --output) _kha_files; return ;;
      esac
      _kha_words '--master --output -o --help'
      ;;
    'lab') _kha_words 'down up' ;;
    'lab:down')
      case $prev in
        --name) :; return ;;
      esac
      _kha_words '--name --help'
      ;;
    'lab:up')
      case $prev in
        --masters) :; return ;;
        --user) _kha_words 'root kha'; return ;;
      esac
      _kha_words '--masters --user --help'
      ;;
    'play')
      case $prev in
        -i | --inventory) _kha_files; return ;;
        -l | --limit) _kha_words "$(_kha_hosts "$inv" --groups)"; return ;;
      esac
      if [[ $cur != -* ]] && (($(_kha_nargs '-i --inventory -l --limit') == 0)); then _kha_files; return; fi
      _kha_words '--check --inventory -i --limit -l --help'
      ;;
    'remove-master')
      case $prev in
        -i | --inventory) _kha_files; return ;;
        --name) _kha_words "$(_kha_hosts "$inv")"; return ;;
      esac
      _kha_words '--inventory -i --name --help'
      ;;
    'render')
      case $prev in
        --host) _kha_words "$(_kha_hosts "$inv")"; return ;;
        -i | --inventory) _kha_files; return ;;
        --what) _kha_words 'all keepalived haproxy'; return ;;
      esac
      _kha_words '--host --inventory -i --what --help'
      ;;
    'up')
      case $prev in
        --forks) :; return ;;
        -i | --inventory | --log-file) _kha_files; return ;;
      esac
      _kha_words '--become --no-become -b --check --forks --inventory -i --log-file --yes -y --help'
      ;;
    'upgrade')
      case $prev in
        -i | --inventory) _kha_files; return ;;
      esac
      _kha_words '--inventory -i --help'
      ;;
  esac
}
complete -F _kha kha
