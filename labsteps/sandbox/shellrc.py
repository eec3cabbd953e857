"""The shell start-up files every lab host gets: its bash marks prompts and command ends.

The marks (OSC 133, and a private OSC 6973 for the shell's exit status) are what
labsteps/terminal/shell.py reads back out of a terminal's output.
"""

BASHRC = r"""# nslab shell integration: marks prompts and command ends for the lab (OSC 133).
case $- in *i*) ;; *) return ;; esac  # only where a person types
__nslab_done() { printf '\e]133;D;%s\a' "$?"; }
PROMPT_COMMAND=__nslab_done
PS1='\[\e]133;A\a\]\u@\h:\w\$ \[\e]133;B\a\]'
PS0='\e]133;C\a'
export ENV=/etc/shinit  # container shells (busybox sh) mark their prompts from there
trap 'printf "\e]6973;exit;%s\a" "$?"' EXIT
"""

# Files every lab host gets in its own /root and /lab/etc (see mounts.build_root).
FILES = {
    "/lab/etc/nslab.bashrc": BASHRC,
    "/root/.bashrc": "case $- in *i*) ;; *) return ;; esac\n"
                     "[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc\n"
                     "alias ls='ls --color=auto'\n"
                     ". /lab/etc/nslab.bashrc\n",
    "/root/.profile": "[ -n \"$BASH_VERSION\" ] && [ -f ~/.bashrc ] && . ~/.bashrc\n",
}
